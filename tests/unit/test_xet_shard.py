"""Shards (§4): upload-shard round trips, the sha256 byte swap, rejection of malformed bodies, and
the server-side consistency check of a shard's files against stored xorbs (§4.6)."""

from __future__ import annotations

import hashlib
import random
import struct

import pytest

from modelyard.domain.errors import BadRequest
from modelyard.domain.xet.chunking import split_chunks
from modelyard.domain.xet.errors import (
    FileHashMismatch,
    InvalidShard,
    InvalidTerm,
    UnknownXorb,
    VerificationMismatch,
)
from modelyard.domain.xet.file_check import check_shard_file
from modelyard.domain.xet.hashes import MerkleHash, file_hash, hmac_hash, verification_hash
from modelyard.domain.xet.shard import (
    FILE_FLAG_WITH_METADATA_EXT,
    FILE_FLAG_WITH_VERIFICATION,
    RECORD_SIZE,
    SHARD_FOOTER_SIZE,
    SHARD_HEADER_TAG,
    ShardFile,
    ShardXorb,
    dedup_answer_shard,
    parse_shard,
    serialize_shard,
)
from modelyard.domain.xet.terms import FileTerm
from modelyard.domain.xet.xorb import parse_xorb, serialize_xorb

HELLO = b"hello xet " * 100
HELLO_SHA256 = "c7e258106226bfe43bfa30ea03569ee0f73998f78f94546939bad395bd58a433"


def _upload(data: bytes, xorb_chunk_limit: int = 3):
    """Chunk `data`, pack the chunks into xorbs of at most `xorb_chunk_limit` chunks and build the
    shard file like the client: one term per xorb, verification entries and sha256."""
    chunks = split_chunks(data)
    xorbs = {}
    terms, verification, shard_xorbs = [], [], []
    for i in range(0, len(chunks), xorb_chunk_limit):
        group = chunks[i : i + xorb_chunk_limit]
        parsed = parse_xorb(serialize_xorb(group))
        xorbs[parsed.hash] = parsed.chunks
        terms.append(FileTerm(parsed.hash, 0, len(group), sum(map(len, group))))
        verification.append(verification_hash(c.hash for c in parsed.chunks))
        shard_xorbs.append(ShardXorb.from_chunks(parsed.hash, [(c.hash, c.size) for c in parsed.chunks]))
    leaves = [(c.hash, c.size) for chunks_ in xorbs.values() for c in chunks_]
    file = ShardFile(file_hash(leaves), tuple(terms), tuple(verification), hashlib.sha256(data).hexdigest())
    return file, shard_xorbs, xorbs


def test_hello_shard_layout_and_sha256_byte_swap():
    file, shard_xorbs, _ = _upload(HELLO)
    body = serialize_shard([file], shard_xorbs)
    assert file.hash.hex() == "1cbee08f47a9f5695f5093501b4dda539c5fdf29cc95840e92ad17a76dc58094"
    # header + file header + 1 term + 1 verification + metadata ext + bookend
    #        + xorb header + 1 chunk entry + bookend
    assert len(body) == RECORD_SIZE * 9
    assert body[:32] == SHARD_HEADER_TAG and body[:15] == b"HFRepoMetaData\x00"
    assert struct.unpack_from("<QQ", body, 32) == (2, 0)
    file_hash_raw, flags, entries = struct.unpack_from("<32sII", body, 48)
    assert file_hash_raw == file.hash.raw and entries == 1
    assert flags == FILE_FLAG_WITH_VERIFICATION | FILE_FLAG_WITH_METADATA_EXT == 0xC000_0000
    metadata_ext = body[48 * 4 : 48 * 4 + 32]
    assert metadata_ext.hex()[:8] == "e4bf2662" and metadata_ext.hex()[-4:] == "ba39"
    assert metadata_ext.hex() != HELLO_SHA256
    parsed = parse_shard(body)
    assert parsed.files[0].sha256 == HELLO_SHA256
    assert parsed.footer is None


def test_round_trip_multi_xorb_file():
    data = random.Random(3).randbytes(600_000)
    file, shard_xorbs, _ = _upload(data, xorb_chunk_limit=3)
    assert len(file.terms) >= 2
    parsed = parse_shard(serialize_shard([file], shard_xorbs))
    assert parsed.files == (file,)
    assert parsed.files[0].size == len(data)
    assert [x.hash for x in parsed.xorbs] == [x.hash for x in shard_xorbs]
    assert [c.size for c in parsed.xorbs[0].chunks] == [c.size for c in shard_xorbs[0].chunks]
    assert parsed.xorbs[0].chunks[1].offset == parsed.xorbs[0].chunks[0].size
    assert parsed.xorbs[0].uncompressed_size == sum(c.size for c in shard_xorbs[0].chunks)
    assert parsed.referenced_xorbs() == {t.xorb_hash for t in file.terms}


def test_file_without_optional_records_and_empty_shard():
    file, _, _ = _upload(HELLO)
    bare = ShardFile(file.hash, file.terms)
    parsed = parse_shard(serialize_shard([bare], []))
    assert parsed.files == (bare,) and parsed.xorbs == ()
    assert parsed.files[0].verification is None and parsed.files[0].sha256 is None
    empty = parse_shard(serialize_shard())
    assert empty.files == () and empty.xorbs == ()


def test_every_truncation_is_rejected():
    file, shard_xorbs, _ = _upload(HELLO)
    body = serialize_shard([file], shard_xorbs)
    for cut in [*range(0, len(body), 7), len(body) - 1]:
        with pytest.raises(InvalidShard) as info:
            parse_shard(body[:cut])
        assert isinstance(info.value, BadRequest) and info.value.status == 400


def test_huge_declared_count_is_rejected_without_allocating():
    header = SHARD_HEADER_TAG + struct.pack("<QQ", 2, 0)
    body = header + struct.pack("<32sII8x", b"\x01" * 32, 0, 0xFFFF_FFFF) + b"\x00" * RECORD_SIZE
    with pytest.raises(InvalidShard, match="do not fit"):
        parse_shard(body)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"X" + b[1:], "magic"),
        (lambda b: b[:32] + struct.pack("<Q", 3) + b[40:], "version"),
        (lambda b: b[:40] + struct.pack("<Q", 7) + b[48:], "footer size"),
        (lambda b: b + b"\x00" * 48, "Unexpected 48 bytes"),
    ],
)
def test_malformed_shards_are_rejected(mutate, message):
    file, shard_xorbs, _ = _upload(HELLO)
    with pytest.raises(InvalidShard, match=message):
        parse_shard(mutate(serialize_shard([file], shard_xorbs)))


def test_empty_term_is_rejected():
    xorb = MerkleHash(b"\x02" * 32)
    body = serialize_shard([ShardFile(MerkleHash(b"\x01" * 32), (FileTerm(xorb, 3, 3, 10),))])
    with pytest.raises(InvalidShard, match="empty term"):
        parse_shard(body)


def test_dedup_answer_shard_has_footer_and_hmac_chunk_hashes():
    _, shard_xorbs, _ = _upload(random.Random(4).randbytes(300_000), xorb_chunk_limit=10)
    key = bytes(range(1, 33))
    body = dedup_answer_shard(shard_xorbs, hmac_key=key, creation_timestamp=1_700_000_000, key_expiry=1_700_500_000)
    assert struct.unpack_from("<Q", body, 40)[0] == SHARD_FOOTER_SIZE
    parsed = parse_shard(body)
    assert parsed.files == ()
    footer = parsed.footer
    assert footer is not None
    assert footer.chunk_hash_hmac_key == key
    assert (footer.creation_timestamp, footer.key_expiry) == (1_700_000_000, 1_700_500_000)
    assert footer.footer_offset == len(body) - SHARD_FOOTER_SIZE
    assert footer.file_info_offset == RECORD_SIZE and footer.xorb_info_offset == 2 * RECORD_SIZE
    assert footer.file_lookup_num_entry == footer.xorb_lookup_num_entry == footer.chunk_lookup_num_entry == 0
    assert footer.stored_bytes == 300_000
    original = shard_xorbs[0].chunks
    assert [c.hash for c in parsed.xorbs[0].chunks] == [hmac_hash(c.hash, key) for c in original]
    assert parsed.xorbs[0].hash == shard_xorbs[0].hash


def test_footer_pointing_elsewhere_is_rejected():
    body = bytearray(serialize_shard(with_footer=True))
    struct.pack_into("<Q", body, len(body) - 8, 12345)  # footer_offset
    with pytest.raises(InvalidShard, match="footer"):
        parse_shard(bytes(body))


# --- §4.6 consistency with stored xorbs -------------------------------------------------------------


def test_check_accepts_a_client_like_file():
    file, _, xorbs = _upload(random.Random(8).randbytes(500_000))
    check_shard_file(file, xorbs)


def test_check_accepts_terms_that_reuse_part_of_a_xorb():
    """A dedup'd file: a sub-range of an existing xorb, then the xorb again."""
    _, _, xorbs = _upload(random.Random(8).randbytes(500_000), xorb_chunk_limit=10)
    ((xorb, chunks),) = xorbs.items()
    terms = (FileTerm(xorb, 1, 3, chunks[1].size + chunks[2].size), FileTerm(xorb, 0, 1, chunks[0].size))
    leaves = [(c.hash, c.size) for c in [chunks[1], chunks[2], chunks[0]]]
    verification = (verification_hash(c.hash for c in chunks[1:3]), verification_hash([chunks[0].hash]))
    check_shard_file(ShardFile(file_hash(leaves), terms, verification), xorbs)


def test_check_rejects_inconsistent_files():
    file, _, xorbs = _upload(random.Random(8).randbytes(500_000))
    term = file.terms[0]
    with pytest.raises(UnknownXorb):
        check_shard_file(file, {k: v for k, v in xorbs.items() if k != term.xorb_hash})
    with pytest.raises(VerificationMismatch, match="no verification"):
        check_shard_file(ShardFile(file.hash, file.terms), xorbs)
    check_shard_file(ShardFile(file.hash, file.terms), xorbs, require_verification=False)
    bad_verification = (MerkleHash(bytes(32)), *file.verification[1:])
    with pytest.raises(VerificationMismatch):
        check_shard_file(ShardFile(file.hash, file.terms, bad_verification), xorbs)
    with pytest.raises(FileHashMismatch):
        check_shard_file(ShardFile(MerkleHash(bytes(32)), file.terms, file.verification), xorbs)
    too_far = FileTerm(term.xorb_hash, 0, term.chunk_end + 1, term.unpacked_size)
    with pytest.raises(InvalidTerm, match="outside"):
        check_shard_file(ShardFile(file.hash, (too_far, *file.terms[1:]), file.verification), xorbs)
    wrong_size = FileTerm(term.xorb_hash, 0, term.chunk_end, term.unpacked_size + 1)
    with pytest.raises(InvalidTerm, match="declares"):
        check_shard_file(ShardFile(file.hash, (wrong_size, *file.terms[1:]), file.verification), xorbs)
