"""Xorb bodies (§3): round trips for every compression scheme, footers, and rejected uploads."""

from __future__ import annotations

import hashlib
import random
import struct

import lz4.frame
import pytest

from modelyard.domain.errors import BadRequest
from modelyard.domain.xet.chunking import split_chunks
from modelyard.domain.xet.errors import InvalidXorb, XorbHashMismatch
from modelyard.domain.xet.hashes import MerkleHash, chunk_hash, xorb_hash
from modelyard.domain.xet.xorb import (
    CHUNK_HEADER_SIZE,
    MAX_XORB_CHUNKS,
    ChunkHeader,
    CompressionScheme,
    bg4_join,
    bg4_split,
    compress_chunk,
    decompress_chunks,
    iter_chunk_data,
    iter_chunk_records,
    parse_xorb,
    serialize_xorb,
)

RNG = random.Random(42)
TEXTY = b"".join(b"line %d: the quick brown fox\n" % i for i in range(3000))  # compressible
NOISE = RNG.randbytes(20_000)  # incompressible


def _header(compressed: int, scheme: int, uncompressed: int, version: int = 0) -> bytes:
    return bytes([version]) + compressed.to_bytes(3, "little") + bytes([scheme]) + uncompressed.to_bytes(3, "little")


def _expected_hash(chunks):
    return xorb_hash((chunk_hash(c), len(c)) for c in chunks)


def test_chunk_header_layout():
    header = ChunkHeader(0x010203, CompressionScheme.LZ4, 0x000400)
    encoded = header.encode()
    assert encoded == bytes([0, 0x03, 0x02, 0x01, 1, 0x00, 0x04, 0x00])
    assert ChunkHeader.decode(encoded) == header


@pytest.mark.parametrize("size", range(0, 13))
def test_bg4_split_and_join_are_inverse(size):
    data = bytes(range(100, 100 + size))
    grouped = bg4_split(data)
    assert len(grouped) == size
    assert bg4_join(grouped) == data


def test_bg4_groups_are_laid_out_as_documented():
    # n = 7: q = 1, r = 3 -> groups of 2, 2, 2, 1 bytes; group k holds bytes 4i + k.
    assert bg4_split(b"abcdefg") == b"ae" + b"bf" + b"cg" + b"d"
    assert bg4_join(b"aebfcgd") == b"abcdefg"


@pytest.mark.parametrize("scheme", list(CompressionScheme))
def test_round_trip_each_scheme(scheme):
    chunks = [TEXTY[:65_537], TEXTY[1000 : 1000 + 4097], NOISE]  # odd lengths for BG4
    body = serialize_xorb(chunks, scheme)
    parsed = parse_xorb(body, expected_hash=_expected_hash(chunks))
    assert parsed.hash == _expected_hash(chunks)
    assert parsed.footer_size == 0 and parsed.body_size == len(body)
    assert [c.size for c in parsed.chunks] == [len(c) for c in chunks]
    assert [c.hash for c in parsed.chunks] == [chunk_hash(c) for c in chunks]
    schemes = [r.header.scheme for r in iter_chunk_records(body)]
    # Compressible chunks keep the requested scheme; incompressible noise is stored raw.
    assert schemes == [scheme, scheme, CompressionScheme.NONE]
    assert list(iter_chunk_data(body)) == chunks
    # Record table: contiguous, starting at 0, each record = header + payload.
    assert parsed.chunks[0].offset == 0
    for before, after in zip(parsed.chunks, parsed.chunks[1:], strict=False):
        assert before.end == after.offset
    assert parsed.chunks[-1].end == len(body)
    assert parsed.chunks[2].length == CHUNK_HEADER_SIZE + len(NOISE)


def test_lz4_payload_is_an_lz4_frame():
    header, payload = compress_chunk(TEXTY[:10_000], CompressionScheme.LZ4)
    assert payload[:4] == b"\x04\x22\x4d\x18"
    assert header.compressed_size == len(payload) < header.uncompressed_size == 10_000


def test_spec_vector_xorb_hash_from_serialized_body():
    data = b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(40000))
    chunks = split_chunks(data)
    body = serialize_xorb(chunks, [CompressionScheme.LZ4, CompressionScheme.BG4_LZ4] * 11)
    parsed = parse_xorb(body)
    assert parsed.hash.hex() == "bae3a3f80a8a3f454332f02c5ea1edb314342df85d854313f51fc0839603dc73"
    assert parsed.uncompressed_size == len(data) == 1_280_000
    assert decompress_chunks(body) == data


def test_decompress_a_record_aligned_range():
    chunks = [TEXTY[i * 5000 : (i + 1) * 5000] for i in range(6)]
    body = serialize_xorb(chunks, CompressionScheme.LZ4)
    parsed = parse_xorb(body)
    first, last = parsed.chunks[2], parsed.chunks[4]
    assert decompress_chunks(body[first.offset : last.end], expected_chunks=3) == b"".join(chunks[2:5])
    with pytest.raises(InvalidXorb):
        decompress_chunks(body[first.offset : last.end], expected_chunks=2)


def test_footer_is_accepted_and_stripped():
    chunks = [TEXTY[:30_000], NOISE[:5000]]
    plain = serialize_xorb(chunks)
    with_footer = serialize_xorb(chunks, with_footer=True)
    assert with_footer.startswith(plain) and with_footer[len(plain) : len(plain) + 7] == b"XETBLOB"
    parsed = parse_xorb(with_footer, expected_hash=_expected_hash(chunks))
    assert parsed.body_size == len(plain)
    assert parsed.footer_size == len(with_footer) - len(plain)
    # Footer V1 layout: version 1 and the xorb hash right after the magic; trailing info length.
    footer = with_footer[len(plain) :]
    assert footer[7] == 1 and footer[8:40] == parsed.hash.raw
    assert struct.unpack("<I", footer[-4:])[0] == len(footer) - 4
    assert decompress_chunks(with_footer) == b"".join(chunks)


def test_hash_mismatch_is_rejected():
    body = serialize_xorb([TEXTY[:1000]])
    wrong = MerkleHash(bytes(32))
    with pytest.raises(XorbHashMismatch) as info:
        parse_xorb(body, expected_hash=wrong)
    assert isinstance(info.value, BadRequest)


def test_tampered_payload_changes_the_hash():
    chunks = [NOISE[:3000]]  # stored raw, so flipping a byte keeps it parseable
    body = bytearray(serialize_xorb(chunks))
    body[100] ^= 0xFF
    with pytest.raises(XorbHashMismatch):
        parse_xorb(bytes(body), expected_hash=_expected_hash(chunks))


@pytest.mark.parametrize("cut", [1, 5, CHUNK_HEADER_SIZE, CHUNK_HEADER_SIZE + 10, -1])
def test_truncated_records_are_rejected(cut):
    body = serialize_xorb([TEXTY[:20_000], TEXTY[:20_000]])
    second = parse_xorb(body).chunks[1].offset
    truncated = body[: second + cut] if cut > 0 else body[:cut]
    with pytest.raises(InvalidXorb, match="Truncated"):
        parse_xorb(truncated)


@pytest.mark.parametrize(
    ("header", "payload", "message"),
    [
        (_header(3, 0, 3, version=1), b"abc", "version"),
        (_header(3, 7, 3), b"abc", "compression scheme"),
        (_header(3, 0, 4), b"abc", "two different lengths"),
        (_header(3, 0, 0), b"abc", "uncompressed length"),
        (_header(0, 0, 3), b"", "compressed length"),
        (_header(3, 0, 131_073), b"abc", "uncompressed length"),
        (_header(262_145, 1, 100), b"", "compressed length"),
        (_header(6, 1, 10), b"garbag", "LZ4"),
        (_header(6, 2, 10), b"garbag", "LZ4"),
    ],
)
def test_bad_chunk_records_are_rejected(header, payload, message):
    with pytest.raises(InvalidXorb, match=message):
        parse_xorb(header + payload)


def test_lz4_frame_with_wrong_declared_size_is_rejected():
    frame = lz4.frame.compress(b"z" * 1000)
    for declared in (999, 1001):
        with pytest.raises(InvalidXorb, match="decompresses to its declared"):
            parse_xorb(_header(len(frame), 1, declared) + frame)


def test_lz4_frame_with_trailing_bytes_is_rejected():
    frame = lz4.frame.compress(b"z" * 1000) + b"junk"
    with pytest.raises(InvalidXorb):
        parse_xorb(_header(len(frame), 1, 1000) + frame)


def test_empty_body_is_rejected():
    with pytest.raises(InvalidXorb, match="no chunks"):
        parse_xorb(b"")


def test_too_many_chunks_are_rejected():
    record = _header(1, 0, 1) + b"x"
    parse_xorb(record * MAX_XORB_CHUNKS)
    with pytest.raises(InvalidXorb, match="more than 8192 chunks"):
        parse_xorb(record * (MAX_XORB_CHUNKS + 1))


def test_more_than_64_mib_uncompressed_is_rejected_before_decompressing():
    # 513 headers announcing 128 KiB each: invalid LZ4 payloads are never looked at.
    record = _header(4, 1, 131_072) + b"\x00\x00\x00\x00"
    with pytest.raises(InvalidXorb, match="uncompressed bytes"):
        parse_xorb(record * 513)
