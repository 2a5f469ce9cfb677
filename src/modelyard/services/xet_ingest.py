"""A stored file's bytes turned into Xet by the server itself: what the LFS -> Xet conversion runs in the workers.

It does what hf_xet does for a client, in bounded memory: the file is read in 4 MiB blocks and cut with hf_xet's
chunker (`domain/xet/stream_chunking.py`, same boundaries); chunks already stored are referenced instead of stored
again (found, as hf_xet finds them, through the global-dedup index: a hit loads that xorb's chunk table); the others
are LZ4-compressed into new xorbs of at most 16 MiB, one xorb held at a time; a shard then describes the file. The
xorbs and the shard go through the same checks and writes as a client's upload (`xet_uploads.store_xorb`,
`register_shard`) with a write grant of the repository.

What it holds besides one block and one xorb: about 200 bytes per chunk of the file (its hash, for the file hash
and the verification hashes), some 3 MB per GB.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from modelyard.db.models import XetDedupChunk
from modelyard.domain.xet.hashes import MerkleHash, chunk_hash, file_hash, is_global_dedup_eligible, xorb_hash
from modelyard.domain.xet.hashes import verification_hash as range_hash
from modelyard.domain.xet.shard import ShardFile, ShardXorb, serialize_shard
from modelyard.domain.xet.stream_chunking import StreamChunker
from modelyard.domain.xet.terms import FileTerm
from modelyard.domain.xet.xorb import serialize_chunk
from modelyard.services import xet, xet_tokens, xet_uploads
from modelyard.services.hub import Hub

READ_BLOCK = 4 * 1024 * 1024
XORB_TARGET_BYTES = 16 * 1024 * 1024  # uncompressed; hf_xet's are up to 64 MiB, any size is valid
XORB_MAX_CHUNKS = 8192

# Where a chunk can be read from: (a stored xorb, or the index of a xorb this ingest writes), chunk index.
Location = tuple[MerkleHash | int, int]


@dataclass
class _Run:
    """Consecutive chunks of one xorb: one term of the file."""

    xorb: MerkleHash | int
    start: int
    end: int
    size: int
    hashes: list[MerkleHash] = field(default_factory=list)


class _Ingest:
    def __init__(self, hub: Hub, grant: xet_tokens.CasGrant) -> None:
        self.hub = hub
        self.grant = grant
        self.leaves: list[tuple[MerkleHash, int]] = []
        self.runs: list[_Run] = []
        self.known: dict[MerkleHash, Location] = {}
        self.written: list[ShardXorb] = []  # the new xorbs, finished
        self.records: list[bytes] = []  # the xorb being filled
        self.filling: list[tuple[MerkleHash, int]] = []
        self.filled_bytes = 0

    def add(self, data: bytes) -> None:
        hash_ = chunk_hash(data)
        self.leaves.append((hash_, len(data)))
        if hash_ not in self.known and is_global_dedup_eligible(hash_, first_in_file=len(self.leaves) == 1):
            self._learn_stored_xorb(hash_)
        location = self.known.get(hash_) or self._append(hash_, data)
        last = self.runs[-1] if self.runs else None
        if last is not None and last.xorb == location[0] and last.end == location[1]:
            last.end += 1
            last.size += len(data)
            last.hashes.append(hash_)
        else:
            self.runs.append(_Run(location[0], location[1], location[1] + 1, len(data), [hash_]))

    def _learn_stored_xorb(self, hash_: MerkleHash) -> None:
        """A global-dedup hit: every chunk of the xorb holding `hash_` can be referenced from now on."""
        with self.hub.db.session() as session:
            hit = session.get(XetDedupChunk, hash_.hex())
            stored = None if hit is None else MerkleHash.from_hex(hit.xorb_hash)
        if stored is None:
            return
        for table in xet.load_chunk_tables(self.hub, [stored]).values():
            for index, raw in enumerate(table.raw_hashes()):
                self.known.setdefault(MerkleHash(raw), (stored, index))

    def _append(self, hash_: MerkleHash, data: bytes) -> Location:
        if self.filling and (self.filled_bytes + len(data) > XORB_TARGET_BYTES or len(self.filling) >= XORB_MAX_CHUNKS):
            self._write_xorb()
        location = (len(self.written), len(self.filling))
        self.records.append(serialize_chunk(data))
        self.filling.append((hash_, len(data)))
        self.filled_bytes += len(data)
        self.known[hash_] = location  # a chunk repeated later in the file is stored once
        return location

    def _write_xorb(self) -> None:
        name = xorb_hash(self.filling)
        upload = xet_uploads.new_xorb_upload(self.hub)
        for record in self.records:
            upload.write(record)
        xet_uploads.store_xorb(self.hub, self.grant, name.hex(), upload)  # verified like a client's xorb
        self.written.append(ShardXorb.from_chunks(name, self.filling))
        self.records, self.filling, self.filled_bytes = [], [], 0

    def register(self, sha256: str) -> str:
        if self.filling:
            self._write_xorb()
        terms, checks = [], []
        for run in self.runs:
            stored = run.xorb if isinstance(run.xorb, MerkleHash) else self.written[run.xorb].hash
            terms.append(FileTerm(stored, run.start, run.end, run.size))
            checks.append(range_hash(run.hashes))
        described = ShardFile(
            hash=file_hash(self.leaves), terms=tuple(terms), verification=tuple(checks), sha256=sha256
        )
        xet_uploads.register_shard(self.hub, self.grant, serialize_shard([described], self.written))
        return described.hash.hex()


def ingest_file(hub: Hub, repo_pk: int, path: Path, sha256: str) -> str:
    """Store the file at `path` as Xet for repository `repo_pk`, claiming `sha256`; returns its Xet file hash."""
    # The hub's own write grant: no access token stands behind it, and it never leaves this process.
    expires = int(time.time()) + xet_tokens.TOKEN_TTL_SECONDS
    grant = xet_tokens.CasGrant(repo_pk, xet_tokens.WRITE, expires, xet_tokens.HUB)
    ingest = _Ingest(hub, grant)
    chunker = StreamChunker()
    with path.open("rb") as source:
        while block := source.read(READ_BLOCK):
            for chunk in chunker.feed(block):
                ingest.add(bytes(chunk))
    for chunk in chunker.finish():
        ingest.add(bytes(chunk))
    return ingest.register(sha256)
