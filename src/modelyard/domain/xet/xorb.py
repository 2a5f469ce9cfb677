"""Xorb bodies (§3): chunk records, compression, validation on upload, and a serializer.

A serialized xorb is a run of chunk records `[8-byte header][payload]…`, optionally followed by a
footer starting with `XETBLOB` (§3.3). Clients upload it without footer; the server stores the
records exactly as received and later serves byte ranges of them, so every offset here is a
position in that stored byte stream.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

import lz4.frame

from modelyard.domain.xet.errors import InvalidXorb, XorbHashMismatch
from modelyard.domain.xet.hashes import MerkleHash, chunk_hash, merkle_root

CHUNK_HEADER_SIZE = 8
CHUNK_HEADER_VERSION = 0
MAX_CHUNK_SIZE = 128 * 1024  # uncompressed bytes per chunk
MAX_COMPRESSED_CHUNK_SIZE = 2 * MAX_CHUNK_SIZE
MAX_XORB_CHUNKS = 8192
MAX_XORB_UNCOMPRESSED_BYTES = 64 * 1024 * 1024
# Headers push a full xorb slightly over 64 MiB (§3.2); 65 MiB also leaves room for a footer.
MAX_XORB_BODY_BYTES = 65 * 1024 * 1024
FOOTER_MAGIC = b"XETBLOB"
_FOOTER_HASHES_MAGIC = b"XBLBHSH"
_FOOTER_BOUNDARIES_MAGIC = b"XBLBBND"
_FOOTER_BUFFER_SIZE = 16


class CompressionScheme(IntEnum):
    NONE = 0
    LZ4 = 1
    BG4_LZ4 = 2  # byte grouping by 4, then LZ4


@dataclass(frozen=True, slots=True)
class ChunkHeader:
    """The 8-byte header in front of each chunk payload."""

    compressed_size: int
    scheme: CompressionScheme
    uncompressed_size: int

    def encode(self) -> bytes:
        return (
            bytes([CHUNK_HEADER_VERSION])
            + self.compressed_size.to_bytes(3, "little")
            + bytes([self.scheme])
            + self.uncompressed_size.to_bytes(3, "little")
        )

    @classmethod
    def decode(cls, header: bytes | memoryview, offset: int = 0) -> ChunkHeader:
        """Decode and validate one header; `offset` only appears in error messages."""
        if len(header) != CHUNK_HEADER_SIZE:
            raise InvalidXorb(f"Truncated chunk header at byte {offset}")
        if header[0] != CHUNK_HEADER_VERSION:
            raise InvalidXorb(f"Unsupported chunk header version {header[0]} at byte {offset}")
        compressed = int.from_bytes(header[1:4], "little")
        uncompressed = int.from_bytes(header[5:8], "little")
        try:
            scheme = CompressionScheme(header[4])
        except ValueError:
            raise InvalidXorb(f"Unknown compression scheme {header[4]} at byte {offset}") from None
        if not 0 < uncompressed <= MAX_CHUNK_SIZE:
            raise InvalidXorb(f"Chunk at byte {offset} has invalid uncompressed length {uncompressed}")
        if not 0 < compressed <= MAX_COMPRESSED_CHUNK_SIZE:
            raise InvalidXorb(f"Chunk at byte {offset} has invalid compressed length {compressed}")
        if scheme is CompressionScheme.NONE and compressed != uncompressed:
            raise InvalidXorb(f"Uncompressed chunk at byte {offset} declares two different lengths")
        return cls(compressed_size=compressed, scheme=scheme, uncompressed_size=uncompressed)


class ChunkRecord(NamedTuple):
    """One chunk record as found in a serialized xorb (payload still compressed)."""

    offset: int  # position of the header inside the scanned buffer
    header: ChunkHeader
    payload: memoryview

    @property
    def end(self) -> int:
        return self.offset + CHUNK_HEADER_SIZE + self.header.compressed_size


@dataclass(frozen=True, slots=True)
class XorbChunk:
    """A chunk of a stored xorb: its hash, uncompressed size, and where its record lies."""

    hash: MerkleHash
    size: int  # uncompressed bytes
    offset: int  # byte offset of the chunk record (header included) in the stored xorb
    length: int  # byte length of the record: header + compressed payload

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass(frozen=True, slots=True)
class ParsedXorb:
    """The result of validating an uploaded xorb."""

    hash: MerkleHash
    chunks: tuple[XorbChunk, ...]
    body_size: int  # bytes to store: the chunk records, without any footer
    footer_size: int  # bytes of footer found (and to be dropped) after the records

    @property
    def uncompressed_size(self) -> int:
        return sum(chunk.size for chunk in self.chunks)


# --- byte grouping (BG4) and per-chunk (de)compression ----------------------------------------


def bg4_split(data: bytes | memoryview) -> bytes:
    """Byte grouping: byte 4i+k of the input goes to group k; groups are concatenated."""
    return b"".join(bytes(data[k::4]) for k in range(4))


def bg4_join(data: bytes | memoryview) -> bytes:
    """Inverse of `bg4_split`: group k has `n//4 + 1` bytes if `k < n % 4` else `n//4` (§3.1)."""
    size = len(data)
    quotient, remainder = divmod(size, 4)
    out = bytearray(size)
    position = 0
    for k in range(4):
        group_size = quotient + (1 if k < remainder else 0)
        out[k::4] = data[position : position + group_size]
        position += group_size
    return bytes(out)


def _lz4_decompress(payload: memoryview, expected_size: int, offset: int) -> bytes:
    decompressor = lz4.frame.LZ4FrameDecompressor()
    try:
        data = decompressor.decompress(payload, max_length=expected_size)
    except RuntimeError as exc:
        raise InvalidXorb(f"Chunk at byte {offset} is not a valid LZ4 frame ({exc})") from None
    if len(data) != expected_size or not decompressor.eof or decompressor.unused_data:
        raise InvalidXorb(
            f"Chunk at byte {offset} is not one LZ4 frame that decompresses to its declared {expected_size} bytes"
        )
    return data


def decompress_payload(header: ChunkHeader, payload: bytes | memoryview, offset: int = 0) -> bytes:
    """The uncompressed bytes of one chunk; raises InvalidXorb on a bad payload."""
    view = memoryview(payload)
    if len(view) != header.compressed_size:
        raise InvalidXorb(f"Truncated chunk payload at byte {offset}")
    if header.scheme is CompressionScheme.NONE:
        return bytes(view)
    data = _lz4_decompress(view, header.uncompressed_size, offset)
    if header.scheme is CompressionScheme.BG4_LZ4:
        return bg4_join(data)
    return data


def chunk_bytes(header: ChunkHeader, payload: memoryview, offset: int = 0) -> bytes | memoryview:
    """The uncompressed bytes of one chunk for reading only (hashing): a stored (uncompressed) payload is returned
    as the view it is, without the copy `decompress_payload` makes; raises InvalidXorb on a bad payload."""
    if header.scheme is CompressionScheme.NONE and len(payload) == header.compressed_size:
        return payload
    return decompress_payload(header, payload, offset)


def decompress_into(header: ChunkHeader, payload: memoryview, out: memoryview, offset: int = 0) -> None:
    """Write the uncompressed bytes of one chunk into `out`, which holds exactly its uncompressed size. A chunk
    stored raw may have been read straight into `out` (`payload is out`): then nothing is copied."""
    if len(out) != header.uncompressed_size:
        raise InvalidXorb(f"Chunk at byte {offset} holds {header.uncompressed_size} bytes, not {len(out)}")
    if header.scheme is CompressionScheme.NONE:
        if len(payload) != header.compressed_size:
            raise InvalidXorb(f"Truncated chunk payload at byte {offset}")
        if payload is not out:
            out[:] = payload
        return
    out[:] = decompress_payload(header, payload, offset)


def compress_chunk(data: bytes, scheme: CompressionScheme = CompressionScheme.LZ4) -> tuple[ChunkHeader, bytes]:
    """Compress one chunk like hf_xet: fall back to NONE when compression does not make it smaller."""
    if not 0 < len(data) <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk length must be 1..{MAX_CHUNK_SIZE}, got {len(data)}")
    payload = data
    if scheme is CompressionScheme.LZ4:
        payload = lz4.frame.compress(data)
    elif scheme is CompressionScheme.BG4_LZ4:
        payload = lz4.frame.compress(bg4_split(data))
    if len(payload) >= len(data):
        scheme, payload = CompressionScheme.NONE, data
    return ChunkHeader(len(payload), scheme, len(data)), payload


# --- reading -------------------------------------------------------------------------------------


def _is_footer(view: memoryview, position: int) -> bool:
    return view[position : position + len(FOOTER_MAGIC)] == FOOTER_MAGIC


def iter_chunk_records(data: bytes | bytearray | memoryview) -> Iterator[ChunkRecord]:
    """Walk the chunk records of `data` (a whole xorb or a record-aligned slice of one).

    Stops at the end of the buffer or at a footer (`XETBLOB`). Validates each header and that the
    payload is complete; does not decompress.
    """
    view = memoryview(data).cast("B")
    position = 0
    while position < len(view) and not _is_footer(view, position):
        header = ChunkHeader.decode(view[position : position + CHUNK_HEADER_SIZE], position)
        start = position + CHUNK_HEADER_SIZE
        payload = view[start : start + header.compressed_size]
        if len(payload) != header.compressed_size:
            raise InvalidXorb(f"Truncated chunk payload at byte {position}")
        yield ChunkRecord(position, header, payload)
        position = start + header.compressed_size


def iter_chunk_data(data: bytes | bytearray | memoryview) -> Iterator[bytes]:
    """Uncompressed bytes of each chunk in a record-aligned range of a stored xorb."""
    for record in iter_chunk_records(data):
        yield decompress_payload(record.header, record.payload, record.offset)


def decompress_chunks(data: bytes | bytearray | memoryview, expected_chunks: int | None = None) -> bytes:
    """Concatenated uncompressed bytes of the chunk records in `data` (e.g. a fetched byte range).

    With `expected_chunks`, also require exactly that many records.
    """
    pieces = list(iter_chunk_data(data))
    if expected_chunks is not None and len(pieces) != expected_chunks:
        raise InvalidXorb(f"Expected {expected_chunks} chunks in the byte range, found {len(pieces)}")
    return b"".join(pieces)


def parse_xorb(data: bytes | bytearray | memoryview, expected_hash: MerkleHash | None = None) -> ParsedXorb:
    """Parse and fully validate an uploaded xorb body (§3.4).

    Decompresses every chunk, checks the limits of §3.2, hashes each chunk and computes the xorb's
    Merkle hash. With `expected_hash` (the hash in the upload URL), raises XorbHashMismatch unless
    they are equal. Any footer is accepted and reported in `footer_size` (store only `body_size`).
    """
    view = memoryview(data).cast("B")
    if len(view) > MAX_XORB_BODY_BYTES:
        raise InvalidXorb(f"Xorb body of {len(view)} bytes exceeds the {MAX_XORB_BODY_BYTES}-byte limit")
    # First pass over the headers only, so oversized xorbs are refused before any decompression.
    records: list[ChunkRecord] = []
    total = 0
    for record in iter_chunk_records(view):
        if len(records) == MAX_XORB_CHUNKS:
            raise InvalidXorb(f"Xorb has more than {MAX_XORB_CHUNKS} chunks")
        total += record.header.uncompressed_size
        if total > MAX_XORB_UNCOMPRESSED_BYTES:
            raise InvalidXorb(f"Xorb holds more than {MAX_XORB_UNCOMPRESSED_BYTES} uncompressed bytes")
        records.append(record)
    chunks = [
        XorbChunk(
            chunk_hash(chunk_bytes(record.header, record.payload, record.offset)),
            record.header.uncompressed_size,
            record.offset,
            record.end - record.offset,
        )
        for record in records
    ]
    body_end = records[-1].end if records else 0
    if not chunks:
        raise InvalidXorb("Xorb has no chunks")
    computed = merkle_root((chunk.hash, chunk.size) for chunk in chunks)
    if expected_hash is not None and computed != expected_hash:
        raise XorbHashMismatch(f"Xorb content hashes to {computed}, not to {expected_hash}")
    return ParsedXorb(computed, tuple(chunks), body_end, len(view) - body_end)


# --- writing -------------------------------------------------------------------------------------


def serialize_chunk(data: bytes, scheme: CompressionScheme = CompressionScheme.LZ4) -> bytes:
    """One chunk record: header + (possibly compressed) payload."""
    header, payload = compress_chunk(data, scheme)
    return header.encode() + payload


def serialize_xorb(
    chunks: Iterable[bytes],
    scheme: CompressionScheme | Sequence[CompressionScheme] = CompressionScheme.LZ4,
    *,
    with_footer: bool = False,
) -> bytes:
    """Serialize chunks into a xorb body like hf_xet does (no footer unless `with_footer`).

    `scheme` is one scheme for all chunks or one per chunk; a chunk that does not shrink is stored
    uncompressed.
    """
    chunk_list = list(chunks)
    schemes = [scheme] * len(chunk_list) if isinstance(scheme, CompressionScheme) else list(scheme)
    if len(schemes) != len(chunk_list):
        raise ValueError("one compression scheme per chunk is required")
    body = b"".join(serialize_chunk(chunk, s) for chunk, s in zip(chunk_list, schemes, strict=True))
    if not with_footer:
        return body
    parsed = parse_xorb(body)
    return body + serialize_footer(parsed)


def serialize_footer(xorb: ParsedXorb, nonce: bytes = b"") -> bytes:
    """The V1 footer xet-core appends to xorbs it keeps locally (§3.3); uploads omit it."""
    count = len(xorb.chunks)
    u32 = struct.Struct("<I")
    hashes = _FOOTER_HASHES_MAGIC + b"\x00" + u32.pack(count) + b"".join(c.hash.raw for c in xorb.chunks)
    record_ends = [chunk.end for chunk in xorb.chunks]
    unpacked_ends = []
    running = 0
    for chunk in xorb.chunks:
        running += chunk.size
        unpacked_ends.append(running)
    boundaries = (
        _FOOTER_BOUNDARIES_MAGIC
        + b"\x01"
        + u32.pack(count)
        + b"".join(u32.pack(end) for end in record_ends)
        + b"".join(u32.pack(end) for end in unpacked_ends)
    )
    buffer = nonce[:4].ljust(_FOOTER_BUFFER_SIZE, b"\x00")
    tail_size = 3 * u32.size + len(buffer)
    boundary_from_end = len(boundaries) + tail_size
    hashes_from_end = len(hashes) + boundary_from_end
    info = (
        FOOTER_MAGIC
        + b"\x01"
        + xorb.hash.raw
        + hashes
        + boundaries
        + u32.pack(count)
        + u32.pack(hashes_from_end)
        + u32.pack(boundary_from_end)
        + buffer
    )
    return info + u32.pack(len(info))
