"""Shards (§4): the metadata a client uploads after its xorbs, and the shards a server emits.

Layout: header (48) | file-info section + bookend | xorb-info section + bookend
| [lookup tables] | [footer (200)]. Every record is 48 bytes; integers are little-endian.
Upload shards (what hf_xet sends) stop after the xorb bookend; `parse_shard` accepts both forms.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from modelyard.domain.xet.errors import InvalidShard, ShardTooLarge
from modelyard.domain.xet.hashes import (
    GLOBAL_DEDUP_CHUNK_FLAG,
    HASH_SIZE,
    MerkleHash,
    hmac_hash,
    raw_to_string,
    string_to_raw,
)
from modelyard.domain.xet.terms import FileTerm

SHARD_HEADER_TAG = b"HFRepoMetaData\x00" + bytes(
    [85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169]
)
SHARD_VERSION = 2
SHARD_FOOTER_VERSION = 1
RECORD_SIZE = 48
SHARD_FOOTER_SIZE = 200
MAX_SHARD_BYTES = 64 * 1024 * 1024
# Bounds on the work one shard can ask for (docs/architecture.md, "Bounded work per request"). Checking a file
# costs time and memory per chunk its terms name, and a term may name up to a whole xorb (8192 chunks) again
# and again, so the chunk references are counted, repeats included, before anything is checked.
MAX_SHARD_FILES = 100_000  # the Hub's recommended maximum of files in a whole repository
MAX_SHARD_TERMS = 1 << 20
MAX_FILE_CHUNK_REFERENCES = 1 << 21  # 128 GiB at the 64 KiB average chunk; a 50 GiB file names ~820,000
MAX_SHARD_CHUNK_REFERENCES = 1 << 24  # 1 TiB at the average chunk
FILE_FLAG_WITH_VERIFICATION = 0x8000_0000
FILE_FLAG_WITH_METADATA_EXT = 0x4000_0000
BOOKEND_HASH = b"\xff" * HASH_SIZE

_HEADER = struct.Struct("<32sQQ")
_FILE_HEADER = struct.Struct("<32sII8x")
_FILE_ENTRY = struct.Struct("<32sIIII")
_HASH_RECORD = struct.Struct("<32s16x")  # verification entry and metadata ext
_XORB_HEADER = struct.Struct("<32sIIII")
_XORB_ENTRY = struct.Struct("<32sIIII")
_FOOTER = struct.Struct("<9Q32sQQ48x4Q")
assert _HEADER.size == _FILE_HEADER.size == _FILE_ENTRY.size == _XORB_HEADER.size == RECORD_SIZE
assert _FOOTER.size == SHARD_FOOTER_SIZE
_U32_MAX = 0xFFFF_FFFF


@dataclass(frozen=True, slots=True)
class ShardFile:
    """A file-info block: the file's Xet hash and terms, optional verification and sha256."""

    hash: MerkleHash
    terms: tuple[FileTerm, ...]
    verification: tuple[MerkleHash, ...] | None = None  # one range hash per term (§2.4)
    sha256: str | None = None  # lowercase hex (already converted from the byte-swapped field)

    @property
    def size(self) -> int:
        return sum(term.unpacked_size for term in self.terms)


@dataclass(frozen=True, slots=True)
class ShardXorbChunk:
    hash: MerkleHash
    offset: int  # cumulative uncompressed offset of the chunk inside its xorb
    size: int  # uncompressed bytes
    flags: int = 0

    @property
    def global_dedup(self) -> bool:
        return bool(self.flags & GLOBAL_DEDUP_CHUNK_FLAG)


@dataclass(frozen=True, slots=True)
class ShardXorb:
    """A xorb-info block: the chunk list of one xorb (a hint only; trust the xorb body)."""

    hash: MerkleHash
    chunks: tuple[ShardXorbChunk, ...]
    flags: int = 0
    num_bytes_on_disk: int = 0  # serialized size; hf_xet sends 0
    num_bytes_in_xorb: int | None = None  # total uncompressed bytes; None: sum of the chunk sizes

    @property
    def uncompressed_size(self) -> int:
        if self.num_bytes_in_xorb is not None:
            return self.num_bytes_in_xorb
        return sum(chunk.size for chunk in self.chunks)

    @classmethod
    def from_chunks(
        cls, xorb_hash: MerkleHash, chunks: Iterable[tuple[MerkleHash, int]], *, dedup_flags: Iterable[bool] = ()
    ) -> ShardXorb:
        """Build from `(chunk hash, uncompressed size)` pairs in xorb order."""
        flags = list(dedup_flags)
        entries = []
        offset = 0
        for index, (chunk_hash, size) in enumerate(chunks):
            flag = GLOBAL_DEDUP_CHUNK_FLAG if index < len(flags) and flags[index] else 0
            entries.append(ShardXorbChunk(chunk_hash, offset, size, flag))
            offset += size
        return cls(xorb_hash, tuple(entries))


@dataclass(frozen=True, slots=True)
class ShardFooter:
    """The 200-byte footer of a full shard (absent from upload shards)."""

    file_info_offset: int = RECORD_SIZE
    xorb_info_offset: int = 0
    file_lookup_offset: int = 0
    file_lookup_num_entry: int = 0
    xorb_lookup_offset: int = 0
    xorb_lookup_num_entry: int = 0
    chunk_lookup_offset: int = 0
    chunk_lookup_num_entry: int = 0
    chunk_hash_hmac_key: bytes = bytes(HASH_SIZE)  # all zero: chunk hashes are not HMACed
    creation_timestamp: int = 0
    key_expiry: int = 0
    stored_bytes_on_disk: int = 0
    materialized_bytes: int = 0
    stored_bytes: int = 0
    footer_offset: int = 0
    version: int = SHARD_FOOTER_VERSION


@dataclass(frozen=True, slots=True)
class Shard:
    files: tuple[ShardFile, ...] = ()
    xorbs: tuple[ShardXorb, ...] = ()
    footer: ShardFooter | None = None

    def referenced_xorbs(self) -> set[MerkleHash]:
        """Every xorb named by a term of a file in this shard."""
        return {term.xorb_hash for file in self.files for term in file.terms}


# --- parsing ---------------------------------------------------------------------------------------


class _Reader:
    """Sequential reader over a shard body that turns every overrun into InvalidShard."""

    def __init__(self, data: memoryview, end: int) -> None:
        self.data = data
        self.end = end
        self.position = 0
        self.terms = 0
        self.chunk_references = 0

    def unpack(self, layout: struct.Struct, what: str) -> tuple:
        if self.position + layout.size > self.end:
            raise InvalidShard(f"Shard is truncated: {what} at byte {self.position} is incomplete")
        values = layout.unpack_from(self.data, self.position)
        self.position += layout.size
        return values

    def require_records(self, count: int, what: str) -> None:
        """Reject a declared count that cannot fit in the rest of the body (before looping on it)."""
        if count * RECORD_SIZE > self.end - self.position:
            raise InvalidShard(
                f"Shard is truncated: {count} {what} declared at byte {self.position} do not fit in the body"
            )


def _parse_file(reader: _Reader, file_hash: bytes, flags: int, count: int) -> ShardFile:
    start = reader.position - RECORD_SIZE
    reader.require_records(count, "file terms")
    reader.terms += count
    if reader.terms > MAX_SHARD_TERMS:
        raise ShardTooLarge(f"Shard holds more than {MAX_SHARD_TERMS} file terms: upload it as several shards")
    terms = []
    references = 0
    for _ in range(count):
        xorb, _entry_flags, unpacked, chunk_start, chunk_end = reader.unpack(_FILE_ENTRY, "file term")
        if chunk_start >= chunk_end or unpacked == 0:
            raise InvalidShard(
                f"File entry at byte {start} has an empty term (chunks {chunk_start}..{chunk_end}, {unpacked} bytes)"
            )
        references += chunk_end - chunk_start
        terms.append(FileTerm(MerkleHash(xorb), chunk_start, chunk_end, unpacked))
    if references > MAX_FILE_CHUNK_REFERENCES:
        raise ShardTooLarge(
            f"File entry at byte {start} names {references} chunks, over the limit of {MAX_FILE_CHUNK_REFERENCES}"
        )
    reader.chunk_references += references
    if reader.chunk_references > MAX_SHARD_CHUNK_REFERENCES:
        raise ShardTooLarge(
            f"Shard names more than {MAX_SHARD_CHUNK_REFERENCES} chunks in its file terms: upload it as several shards"
        )
    verification = None
    if flags & FILE_FLAG_WITH_VERIFICATION:
        reader.require_records(count, "verification entries")
        verification = tuple(MerkleHash(reader.unpack(_HASH_RECORD, "verification entry")[0]) for _ in range(count))
    sha256 = None
    if flags & FILE_FLAG_WITH_METADATA_EXT:
        sha256 = raw_to_string(reader.unpack(_HASH_RECORD, "file metadata ext")[0])
    return ShardFile(MerkleHash(file_hash), tuple(terms), verification, sha256)


def _parse_xorb(reader: _Reader, xorb_hash: bytes, flags: int, count: int, in_xorb: int, on_disk: int) -> ShardXorb:
    reader.require_records(count, "xorb chunk entries")
    chunks = []
    for _ in range(count):
        chunk, offset, size, chunk_flags, _unused = reader.unpack(_XORB_ENTRY, "xorb chunk entry")
        chunks.append(ShardXorbChunk(MerkleHash(chunk), offset, size, chunk_flags))
    return ShardXorb(MerkleHash(xorb_hash), tuple(chunks), flags, on_disk, in_xorb)


_FOOTER_FIELDS = (
    "version", "file_info_offset", "xorb_info_offset", "file_lookup_offset", "file_lookup_num_entry",
    "xorb_lookup_offset", "xorb_lookup_num_entry", "chunk_lookup_offset", "chunk_lookup_num_entry",
    "chunk_hash_hmac_key", "creation_timestamp", "key_expiry", "stored_bytes_on_disk",
    "materialized_bytes", "stored_bytes", "footer_offset",
)  # fmt: skip


def _encode_footer(footer: ShardFooter) -> bytes:
    return _FOOTER.pack(*(getattr(footer, name) for name in _FOOTER_FIELDS))


def _parse_footer(view: memoryview, start: int, sections_end: int) -> ShardFooter:
    footer = ShardFooter(**dict(zip(_FOOTER_FIELDS, _FOOTER.unpack_from(view, start), strict=True)))
    version, footer_offset = footer.version, footer.footer_offset
    file_lookup, file_lookup_n = footer.file_lookup_offset, footer.file_lookup_num_entry
    xorb_lookup, xorb_lookup_n = footer.xorb_lookup_offset, footer.xorb_lookup_num_entry
    chunk_lookup, chunk_lookup_n = footer.chunk_lookup_offset, footer.chunk_lookup_num_entry
    if version != SHARD_FOOTER_VERSION:
        raise InvalidShard(f"Unsupported shard footer version {version}")
    if footer_offset != start:
        raise InvalidShard(f"Shard footer claims offset {footer_offset} but starts at byte {start}")
    tables = ((file_lookup, file_lookup_n, 12), (xorb_lookup, xorb_lookup_n, 12), (chunk_lookup, chunk_lookup_n, 16))
    for offset, entries, width in tables:
        if not sections_end <= offset <= start or entries * width > start - offset:
            raise InvalidShard("Shard footer points outside the lookup-table area")
    return footer


def parse_shard(data: bytes | bytearray | memoryview) -> Shard:
    """Parse a shard body (upload form, or full form with lookup tables and footer).

    Never allocates from a declared count before checking the body can hold it; raises
    InvalidShard for a truncated or malformed body.
    """
    view = memoryview(data).cast("B")
    if len(view) > MAX_SHARD_BYTES:
        raise InvalidShard(f"Shard of {len(view)} bytes exceeds the {MAX_SHARD_BYTES}-byte limit")
    reader = _Reader(view, len(view))
    tag, version, footer_size = reader.unpack(_HEADER, "shard header")
    if tag != SHARD_HEADER_TAG:
        raise InvalidShard("Not a Xet shard: wrong magic tag")
    if version != SHARD_VERSION:
        raise InvalidShard(f"Unsupported shard version {version}")
    if footer_size not in (0, SHARD_FOOTER_SIZE):
        raise InvalidShard(f"Unsupported shard footer size {footer_size}")
    if footer_size:
        if len(view) < RECORD_SIZE + footer_size:
            raise InvalidShard("Shard is truncated: footer missing")
        reader.end = len(view) - footer_size

    files = []
    while True:
        file_hash, flags, count = reader.unpack(_FILE_HEADER, "file header (or file-section bookend)")
        if file_hash == BOOKEND_HASH:
            break
        if len(files) == MAX_SHARD_FILES:
            raise ShardTooLarge(f"Shard describes more than {MAX_SHARD_FILES} files: upload it as several shards")
        files.append(_parse_file(reader, file_hash, flags, count))

    xorbs = []
    while True:
        xorb_hash, flags, count, in_xorb, on_disk = reader.unpack(_XORB_HEADER, "xorb header (or bookend)")
        if xorb_hash == BOOKEND_HASH:
            break
        xorbs.append(_parse_xorb(reader, xorb_hash, flags, count, in_xorb, on_disk))

    footer = None
    if footer_size:
        footer = _parse_footer(view, reader.end, reader.position)
    elif reader.position != len(view):
        raise InvalidShard(f"Unexpected {len(view) - reader.position} bytes after the shard's xorb section")
    return Shard(tuple(files), tuple(xorbs), footer)


# --- writing ---------------------------------------------------------------------------------------


def _u32(value: int, what: str) -> int:
    if not 0 <= value <= _U32_MAX:
        raise ValueError(f"{what} {value} does not fit in 32 bits")
    return value


def _serialize_file(file: ShardFile) -> bytes:
    flags = 0
    if file.verification is not None:
        if len(file.verification) != len(file.terms):
            raise ValueError("a shard file needs exactly one verification hash per term")
        flags |= FILE_FLAG_WITH_VERIFICATION
    if file.sha256 is not None:
        flags |= FILE_FLAG_WITH_METADATA_EXT
    parts = [_FILE_HEADER.pack(file.hash.raw, flags, _u32(len(file.terms), "term count"))]
    for term in file.terms:
        parts.append(
            _FILE_ENTRY.pack(
                term.xorb_hash.raw,
                0,
                _u32(term.unpacked_size, "term size"),
                _u32(term.chunk_start, "chunk index"),
                _u32(term.chunk_end, "chunk index"),
            )
        )
    for range_hash in file.verification or ():
        parts.append(_HASH_RECORD.pack(range_hash.raw))
    if file.sha256 is not None:
        parts.append(_HASH_RECORD.pack(string_to_raw(file.sha256)))
    return b"".join(parts)


def _serialize_xorb(xorb: ShardXorb) -> bytes:
    parts = [
        _XORB_HEADER.pack(
            xorb.hash.raw,
            xorb.flags,
            _u32(len(xorb.chunks), "chunk count"),
            _u32(xorb.uncompressed_size, "xorb size"),
            _u32(xorb.num_bytes_on_disk, "xorb size"),
        )
    ]
    for chunk in xorb.chunks:
        parts.append(
            _XORB_ENTRY.pack(chunk.hash.raw, _u32(chunk.offset, "chunk offset"), _u32(chunk.size, "chunk size"),
                             chunk.flags, 0)
        )  # fmt: skip
    return b"".join(parts)


def _bookend() -> bytes:
    return BOOKEND_HASH + bytes(RECORD_SIZE - HASH_SIZE)


def serialize_shard(
    files: Sequence[ShardFile] = (),
    xorbs: Sequence[ShardXorb] = (),
    *,
    with_footer: bool = False,
    hmac_key: bytes = bytes(HASH_SIZE),
    creation_timestamp: int = 0,
    key_expiry: int = 0,
) -> bytes:
    """Serialize a shard.

    Without footer this is exactly what hf_xet uploads (header footer_size 0, both sections, end).
    With `with_footer`, appends empty lookup tables and a 200-byte footer (the form of a global-dedup
    answer, §4.5/§5.1); `hmac_key`, `creation_timestamp` and `key_expiry` (unix seconds) go there.
    Chunk hashes are written as given: see `dedup_answer_shard` for HMAC protection.
    """
    file_section = b"".join(_serialize_file(f) for f in files) + _bookend()
    xorb_section = b"".join(_serialize_xorb(x) for x in xorbs) + _bookend()
    header = _HEADER.pack(SHARD_HEADER_TAG, SHARD_VERSION, SHARD_FOOTER_SIZE if with_footer else 0)
    body = header + file_section + xorb_section
    if not with_footer:
        return body
    if len(hmac_key) != HASH_SIZE:
        raise ValueError(f"the HMAC key is {HASH_SIZE} bytes")
    tables_offset = len(body)  # empty lookup tables: each table starts (and ends) at the footer
    footer = ShardFooter(
        file_info_offset=RECORD_SIZE,
        xorb_info_offset=RECORD_SIZE + len(file_section),
        file_lookup_offset=tables_offset,
        xorb_lookup_offset=tables_offset,
        chunk_lookup_offset=tables_offset,
        chunk_hash_hmac_key=hmac_key,
        creation_timestamp=creation_timestamp,
        key_expiry=key_expiry,
        stored_bytes_on_disk=sum(x.num_bytes_on_disk for x in xorbs),
        materialized_bytes=sum(f.size for f in files),
        stored_bytes=sum(x.uncompressed_size for x in xorbs),
        footer_offset=tables_offset,
    )
    return body + _encode_footer(footer)


def dedup_answer_shard(
    xorbs: Sequence[ShardXorb], *, hmac_key: bytes, creation_timestamp: int, key_expiry: int
) -> bytes:
    """The body of a global-dedup answer (§5.1): no files, the given xorbs, empty tables, footer.

    With a non-zero `hmac_key`, every chunk hash is replaced by `hmac_hash(chunk hash, key)`.
    """
    if any(hmac_key):
        xorbs = [
            ShardXorb(
                x.hash,
                tuple(ShardXorbChunk(hmac_hash(c.hash, hmac_key), c.offset, c.size, c.flags) for c in x.chunks),
                x.flags,
                x.num_bytes_on_disk,
                x.num_bytes_in_xorb,
            )
            for x in xorbs
        ]
    return serialize_shard(
        (), xorbs, with_footer=True, hmac_key=hmac_key, creation_timestamp=creation_timestamp, key_expiry=key_expiry
    )
