"""The Xet storage service on a temporary hub (no server): files made of many terms over several xorbs,
read back through every byte range, both as plain bytes and as the reconstructions hf_xet follows."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from modelyard.config import Settings
from modelyard.db.models import Repo
from modelyard.domain.dates import utcnow
from modelyard.domain.errors import RangeNotSatisfiable, TooLarge
from modelyard.domain.xet.errors import ShardRejected
from modelyard.domain.xet.hashes import MerkleHash, chunk_hash, file_hash, verification_hash, xorb_hash
from modelyard.domain.xet.shard import ShardFile, ShardXorb, serialize_shard
from modelyard.domain.xet.terms import FileTerm
from modelyard.domain.xet.xorb import MAX_CHUNK_SIZE, CompressionScheme, decompress_chunks, serialize_xorb
from modelyard.frontdoor.file_responses import object_response
from modelyard.services import lfs, xet, xet_copies, xet_ingest, xet_read, xet_tokens, xet_uploads
from modelyard.services.hub import Hub


def _hub_with_one_repo(settings: Settings) -> Hub:
    """A hub on a fresh data dir whose database holds repository 1 (alice/r)."""
    hub = Hub.open(settings)
    with hub.db.session() as session:
        now = utcnow()
        session.add(
            Repo(id=1, type="model", namespace="alice", name="r", storage_key="k1", private=False, gated="",
                 created_at=now, last_modified=now, downloads=0)
        )  # fmt: skip
    return hub


# A write grant whose shard claims are recorded unhashed, as a writer's are (the hub's own: no access token behind it).
WRITER = xet_tokens.CasGrant(1, xet_tokens.WRITE, 2**40, xet_tokens.HUB)
# A contributor's: a write grant from an access token that may not write to the repository (here: none at all).
CONTRIBUTOR = xet_tokens.CasGrant(1, xet_tokens.WRITE, 2**40)


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    return _hub_with_one_repo(Settings(data_dir=tmp_path / "data"))


def _chunks(rng: random.Random, count: int) -> list[bytes]:
    out = []
    for index in range(count):
        size = rng.choice([1, 17, 4096, 65536, 131072, rng.randint(1, 131072)])
        if index % 3 == 0:
            out.append(bytes([index % 251]) * size)  # compressible: stored LZ4
        else:
            out.append(rng.randbytes(size))
    return out


def _store(hub: Hub, grant: xet_tokens.CasGrant, chunks: list[bytes], scheme: CompressionScheme) -> MerkleHash:
    body = serialize_xorb(chunks, scheme)
    name = xorb_hash((chunk_hash(c), len(c)) for c in chunks)
    upload = xet_uploads.new_xorb_upload(hub)
    upload.write(body)
    assert xet_uploads.store_xorb(hub, grant, name.hex(), upload) is True
    return name


def _build_file(hub: Hub, seed: int) -> tuple[bytes, xet.XetFileRecord]:
    rng = random.Random(seed)
    grant = WRITER
    xorbs = [_chunks(rng, n) for n in (9, 14, 5)]
    schemes = (CompressionScheme.LZ4, CompressionScheme.BG4_LZ4, CompressionScheme.NONE)
    names = [_store(hub, grant, chunks, scheme) for chunks, scheme in zip(xorbs, schemes, strict=True)]
    # Terms in any order, repeating ranges and crossing xorbs, as a deduplicated upload produces.
    spans = [(0, 0, 4), (1, 2, 14), (0, 3, 9), (2, 0, 5), (1, 0, 1), (0, 0, 4), (1, 5, 6), (2, 4, 5)]
    terms, data, leaves = [], b"", []
    for which, start, end in spans:
        piece = xorbs[which][start:end]
        terms.append(FileTerm(names[which], start, end, sum(len(c) for c in piece)))
        data += b"".join(piece)
        leaves += [(chunk_hash(c), len(c)) for c in piece]
    verification = tuple(
        verification_hash(chunk_hash(c) for c in xorbs[which][start:end]) for which, start, end in spans
    )
    shard_file = ShardFile(file_hash(leaves), tuple(terms), verification, "ab" * 32)
    shard = serialize_shard(
        [shard_file],
        [ShardXorb.from_chunks(n, [(chunk_hash(c), len(c)) for c in x]) for n, x in zip(names, xorbs, strict=True)],
    )
    assert xet_uploads.register_shard(hub, grant, shard) == 1
    record = xet.load_file(hub, shard_file.hash.hex())
    assert record is not None and record.size == len(data)
    return data, record


def test_every_range_reads_back_exactly(hub: Hub, monkeypatch):
    data, record = _build_file(hub, seed=1)
    rng = random.Random(2)
    for batch in (xet_read.STREAM_BATCH, 100_000, 65_537, 7):  # 7: every piece is one chunk
        monkeypatch.setattr(xet_read, "STREAM_BATCH", batch)
        ranges = [(0, len(data)), (len(data) - 1, len(data)), (65530, 65830)]
        ranges += [tuple(sorted(rng.sample(range(len(data) + 1), 2))) for _ in range(40)]
        for start, end in ranges:
            if start == end:
                continue
            pieces = list(xet_read.iter_file_bytes(hub, record, start, end))
            assert b"".join(pieces) == data[start:end], (batch, start, end)
            assert max(len(piece) for piece in pieces) <= max(batch, MAX_CHUNK_SIZE)


def test_reading_holds_one_batch_at_a_time(hub: Hub):
    """Reading a 16 MiB file allocates about a piece at a time, not the file or a large window of it (25 MB
    before issue 7)."""
    grant = WRITER
    chunks = [random.Random(7).randbytes(MAX_CHUNK_SIZE) for _ in range(64)]  # random: stored uncompressed
    name = _store(hub, grant, chunks, CompressionScheme.LZ4)
    leaves = [(chunk_hash(c), len(c)) for c in chunks] * 2
    terms = (FileTerm(name, 0, 64, 64 * MAX_CHUNK_SIZE), FileTerm(name, 0, 64, 64 * MAX_CHUNK_SIZE))
    verification = (verification_hash(chunk_hash(c) for c in chunks),) * 2
    shard_file = ShardFile(file_hash(leaves), terms, verification, "cd" * 32)
    shard = serialize_shard([shard_file], [ShardXorb.from_chunks(name, leaves[:64])])
    assert xet_uploads.register_shard(hub, grant, shard) == 1
    record = xet.load_file(hub, shard_file.hash.hex())
    assert record is not None and record.size == 16 * 1024 * 1024

    tracemalloc.start()
    try:
        size = sum(len(piece) for piece in xet_read.iter_file_bytes(hub, record, 100, record.size))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == record.size - 100
    # The piece in the consumer's hands, the next one being filled, and one chunk's record and its bytes.
    assert peak < 2 * xet_read.STREAM_BATCH + 4 * MAX_CHUNK_SIZE, peak


def test_reconstructions_follow_the_client_algorithm(hub: Hub):
    """Apply a V1 reconstruction like hf_xet: fetch each term's byte range, decompress, skip, trim."""
    data, record = _build_file(hub, seed=3)
    grant = xet_tokens.CasGrant(1, xet_tokens.READ, 2**40)
    store = xet.store(hub)
    rng = random.Random(4)
    ranges = [(0, len(data) - 1), (0, 0), (len(data) - 1, len(data) + 5000)]
    ranges += [tuple(sorted(rng.sample(range(len(data)), 2))) for _ in range(60)]
    for first, last in ranges:
        plan = xet.reconstruction_json(
            hub, grant, record.hash, f"bytes={first}-{last}", lambda x, a, b: f"{x.hex()}:{a}:{b}"
        )
        out = b""
        for term in plan["terms"]:
            fetch = next(
                f
                for f in plan["fetch_info"][term["hash"]]
                if f["range"]["start"] <= term["range"]["start"] and term["range"]["end"] <= f["range"]["end"]
            )
            raw = b"".join(store.iter_xorb(term["hash"], fetch["url_range"]["start"], fetch["url_range"]["end"] + 1))
            chunks = list(range(fetch["range"]["start"], fetch["range"]["end"]))
            table = xet.load_chunk_tables(hub, [MerkleHash.from_hex(term["hash"])])[MerkleHash.from_hex(term["hash"])]
            begin = table[term["range"]["start"]].offset - table[chunks[0]].offset
            stop = table[term["range"]["end"] - 1].end - table[chunks[0]].offset
            piece = decompress_chunks(raw[begin:stop])
            assert len(piece) == term["unpacked_length"]
            out += piece
        out = out[plan["offset_into_first_range"] :][: min(last, len(data) - 1) - first + 1]
        assert out == data[first : last + 1], (first, last)
    with pytest.raises(RangeNotSatisfiable):
        xet.reconstruction_json(hub, grant, record.hash, f"bytes={len(data)}-", lambda x, a, b: "")


def test_dedup_answer_lists_the_uploaded_xorbs(hub: Hub):
    _, record = _build_file(hub, seed=5)
    first = record.terms[0].term
    table = xet.load_chunk_tables(hub, [first.xorb_hash])[first.xorb_hash]
    reader = xet_tokens.CasGrant(1, xet_tokens.READ, 2**40)
    answer = xet_uploads.dedup_answer(hub, reader, table[first.chunk_start].hash.hex())
    from modelyard.domain.xet.shard import parse_shard

    shard = parse_shard(answer)
    assert shard.footer is not None and any(shard.footer.chunk_hash_hmac_key)
    assert shard.files == ()
    assert {x.hash for x in shard.xorbs} == {t.term.xorb_hash for t in record.terms}
    assert shard.xorbs[0].hash == first.xorb_hash
    assert xet_uploads.dedup_answer(hub, xet_tokens.CasGrant(1, xet_tokens.READ, 2**40), "00" * 32) is None


def _repeated_file_shard(hub: Hub, grant: xet_tokens.CasGrant, repeats: int, claims: list[str], seed: int = 3) -> bytes:
    """A shard whose files all name one file (one small xorb read `repeats` times), each claiming a sha256."""
    chunks = _chunks(random.Random(seed), 4)
    name = _store(hub, grant, chunks, CompressionScheme.NONE)
    leaves = [(chunk_hash(c), len(c)) for c in chunks]
    term = FileTerm(name, 0, len(chunks), sum(len(c) for c in chunks))
    check = verification_hash(h for h, _ in leaves)
    files = [ShardFile(file_hash(leaves * repeats), (term,) * repeats, (check,) * repeats, c) for c in claims]
    return serialize_shard(files, [ShardXorb.from_chunks(name, leaves)])


def test_claims_naming_one_file_hash_it_once(hub: Hub, monkeypatch):
    """A client controls how many bytes its claims cost to verify (one small xorb, read again and again):
    claims naming the same file must not multiply that work."""
    grant = WRITER
    claims = [f"{n:02x}" * 32 for n in range(5)]
    assert xet_uploads.register_shard(hub, grant, _repeated_file_shard(hub, grant, 3, claims)) == 1
    hashed = []
    real = xet_read.iter_file_bytes

    def rebuild(hub, record, start, end):  # every pass over a file's bytes (hashing, keeping a plain copy) is one
        hashed.append(record.hash)
        return real(hub, record, start, end)

    monkeypatch.setattr(xet_read, "iter_file_bytes", rebuild)
    xet.verify_claims(hub, 1, claims)
    assert len(hashed) == 1
    assert xet.refuted_claims(hub, 1, claims).keys() == set(claims)


def test_reads_never_hash_claims(hub: Hub, monkeypatch):
    """Downloads (resolve, the batch API, signed URLs) look claims up without hashing them: only writers and fsck
    pay for that, so an anonymous reader cannot make the server rebuild files that nobody committed."""
    grant = WRITER
    claims = ["ef" * 32]
    assert xet_uploads.register_shard(hub, grant, _repeated_file_shard(hub, grant, 2, claims)) == 1
    hashed = []
    real = xet_read.iter_file_bytes

    def rebuild(hub, record, start, end):  # every pass over a file's bytes (hashing, keeping a plain copy) is one
        hashed.append(record.hash)
        return real(hub, record, start, end)

    monkeypatch.setattr(xet_read, "iter_file_bytes", rebuild)
    assert lfs.locate(hub, 1, set(claims), hash_claims=False) == {}
    assert hashed == []
    assert lfs.locate(hub, 1, set(claims), hash_claims=True) == {}  # hashed now, and refuted: still not served
    assert len(hashed) == 1


def _counting_passes(monkeypatch, pause: float = 0.0) -> list[str]:
    """The Xet files whose bytes are rebuilt from now on, one entry per pass (hashing, keeping a plain copy); the
    first pass lingers `pause` seconds before its first byte."""
    passes: list[str] = []
    real = xet_read.iter_file_bytes

    def rebuild(hub, record, start, end):
        passes.append(record.hash)
        if len(passes) == 1:
            time.sleep(pause)
        return real(hub, record, start, end)

    monkeypatch.setattr(xet_read, "iter_file_bytes", rebuild)
    return passes


def _repeated_file_sha256(repeats: int) -> str:
    return hashlib.sha256(b"".join(_chunks(random.Random(3), 4)) * repeats).hexdigest()


def test_a_contributors_claims_are_hashed_before_they_are_recorded(hub: Hub, monkeypatch):
    """A non-writer's false claim is refused with its shard, before it can stand in front of a writer's real file;
    a true one is recorded verified, so that the commit of the pull request has nothing left to hash."""
    lie = "ab" * 32
    with pytest.raises(ShardRejected, match=lie):
        xet_uploads.register_shard(hub, CONTRIBUTOR, _repeated_file_shard(hub, CONTRIBUTOR, 2, [lie], seed=4))
    assert lfs.locate(hub, 1, {lie}, hash_claims=True) == {} and xet.refuted_claims(hub, 1, [lie]) == {}

    truth = _repeated_file_sha256(2)
    assert xet_uploads.register_shard(hub, CONTRIBUTOR, _repeated_file_shard(hub, CONTRIBUTOR, 2, [truth])) == 1
    passes = _counting_passes(monkeypatch)
    found = lfs.locate(hub, 1, {truth}, hash_claims=True)
    assert found[truth].xet is not None and found[truth].size == 2 * len(b"".join(_chunks(random.Random(3), 4)))
    assert passes == []


def test_concurrent_commits_of_one_claim_hash_it_once(hub: Hub, monkeypatch):
    """Two commits (or pushes) needing the same unhashed claim at once: one hashes it, the other waits and uses it."""
    truth = _repeated_file_sha256(3)
    assert xet_uploads.register_shard(hub, WRITER, _repeated_file_shard(hub, WRITER, 3, [truth])) == 1
    passes = _counting_passes(monkeypatch, pause=0.5)  # the first hash is still running when the second commit asks
    with ThreadPoolExecutor(2) as pool:
        located = list(pool.map(lambda _: lfs.locate(hub, 1, {truth}, hash_claims=True), range(2)))
    assert len(passes) == 1
    assert all(truth in found and found[truth].xet is not None for found in located)


def _sent_body(response: Response) -> bytes:
    """What `response` sends to a GET (no zero-copy offered: the body comes in messages)."""
    scope = {"type": "http", "method": "GET", "headers": [], "extensions": {}}
    body = bytearray()

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    async def send(message: dict[str, Any]) -> None:
        body.extend(message.get("body", b""))

    asyncio.run(response(scope, receive, send))
    return bytes(body)


def test_a_download_whose_blob_or_copy_goes_as_it_starts_is_served_whole(hub: Hub, tmp_path: Path):
    """`modelyard admin xet-evict-lfs` removes LFS blobs that have a verified Xet file, and plain copies of Xet
    files are evicted to make room: either may go between a download locating the object and opening the file.
    The download then finds the Xet file (its plain copy, or rebuilt): the bytes, never a 500."""
    data = random.Random(5).randbytes(300_000)
    oid = hashlib.sha256(data).hexdigest()
    source = tmp_path / "model.bin"
    source.write_bytes(data)
    file_hash = xet_ingest.ingest_file(hub, 1, source, oid)
    xet.verify_claims(hub, 1, [oid])  # as the first commit does: hashed, and kept as a plain copy
    copy = xet_copies.copies(hub).path(file_hash)
    assert copy.is_file()
    # As located a moment ago, when the object's blob was still there (it never is in this hub).
    located = lfs.Content(len(data), True, xet.repo_file(hub, 1, oid))
    request = Request({"type": "http", "method": "GET", "headers": []})
    assert _sent_body(object_response(request, hub, 1, oid, located, {})) == data  # from the copy
    copy.unlink()  # evicted too
    assert _sent_body(object_response(request, hub, 1, oid, located, {})) == data  # rebuilt from the xorbs


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path):
    """A file no repository may hold is not registered, so no download can make the server hash it."""
    small = _hub_with_one_repo(Settings(data_dir=tmp_path / "data", max_file_size=1000))
    grant = WRITER
    with pytest.raises(TooLarge):
        xet_uploads.register_shard(small, grant, _repeated_file_shard(small, grant, 1000, ["ab" * 32]))
