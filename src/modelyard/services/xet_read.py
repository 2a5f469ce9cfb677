"""Plain bytes of a Xet file, rebuilt from the stored xorbs with a small, bounded buffer.

A download of a file stored only as Xet (curl, a browser, git-lfs, `HF_HUB_DISABLE_XET=1`) is answered with
these bytes while they are sent. The generator reads only the chunk records of the xorbs that hold the requested
bytes, a batch of whole chunks at a time (at most `STREAM_BATCH` uncompressed bytes, or one chunk), with one read
that puts raw payloads straight into the piece's buffer and decompresses the others into it; between two pieces it
holds nothing but the piece it yielded.
With a response that produces the next piece only once the connection has taken the previous one
(`frontdoor/streaming.PacedStreamingResponse`), a slow reader costs the server about one piece, whatever the file size.
Batches follow chunk boundaries, so no chunk is read or decompressed twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from modelyard.blobs.xorbs import XorbStore
from modelyard.domain.xet.hashes import MerkleHash
from modelyard.domain.xet.xorb import (
    CHUNK_HEADER_SIZE,
    ChunkHeader,
    XorbChunk,
    decompress_into,
)
from modelyard.services.hub import Hub
from modelyard.services.xet import ChunkTables, PackedChunks, TermIndex, XetFileRecord, store

# Uncompressed bytes per piece. A slow download holds about one piece; 100 slow readers cost about 2.1 MiB each with
# 1 MiB pieces and 1.2-1.8 MiB with 512 KiB (docs/performance.md, bench/slow_downloads.py). Smaller pieces cost more
# CPU per byte (a thread hop, a disk read and a socket write each).
STREAM_BATCH = 512 * 1024


def chunk_batches(table: PackedChunks, first: int, stop: int, limit: int) -> Iterator[tuple[int, int]]:
    """Split chunks `[first, stop)` of a xorb into runs `[a, b)` of at most `limit` uncompressed bytes
    (a run always holds at least one chunk)."""
    ends = table.ends()
    while first < stop:
        base = ends[first - 1] if first else 0
        end = first + 1
        while end < stop and ends[end] - base <= limit:
            end += 1
        yield first, end
        first = end


def iter_file_bytes(hub: Hub, record: XetFileRecord, start: int, end: int) -> Iterator[memoryview]:
    """The plain bytes `[start, end)` of a Xet file, in pieces of at most `STREAM_BATCH` bytes (or one chunk)."""
    if start >= end:
        return
    xorbs = store(hub)
    tables = ChunkTables(hub)
    terms, shift = TermIndex(record).window(tables, start, end - 1)
    skip = start - shift  # bytes before `start` in the first chunk kept
    remaining = end - start
    for term in terms:
        table = tables.get(term.xorb_hash)
        if table is None:
            raise ValueError(f"xorb {term.xorb_hash} of a registered file has no chunk table")
        for first, stop in chunk_batches(table, term.chunk_start, term.chunk_end, STREAM_BATCH):
            piece = memoryview(_read_chunks(xorbs, term.xorb_hash, table[first:stop]))
            if skip or len(piece) > remaining:
                piece = piece[skip : skip + remaining]
                skip = 0
            remaining -= len(piece)
            yield piece
            del piece  # resumed: the consumer has the piece; hold nothing while reading the next batch
            if remaining <= 0:
                return


def _read_chunks(xorbs: XorbStore, xorb_hash: MerkleHash, chunks: list[XorbChunk]) -> bytearray:
    """The uncompressed bytes of consecutive chunks of a xorb, in one buffer, read with one system call.

    Each record's header goes to a small buffer of its own; a payload as long as its chunk (stored raw, as
    incompressible data is) is read straight into its place in the piece, any other into a buffer of its own and
    decompressed into place. Raw data is thus copied once, by the kernel, and the piece is the only large buffer.
    """
    buffer = bytearray(sum(chunk.size for chunk in chunks))
    piece = memoryview(buffer)
    layout: list[tuple[XorbChunk, bytearray, memoryview, memoryview]] = []
    position = 0
    for chunk in chunks:
        out = piece[position : position + chunk.size]
        stored = chunk.length - CHUNK_HEADER_SIZE
        payload = out if stored == chunk.size else memoryview(bytearray(stored))
        layout.append((chunk, bytearray(CHUNK_HEADER_SIZE), payload, out))
        position += chunk.size
    parts = [part for _, header, payload, _ in layout for part in (header, payload)]
    xorbs.read_into(xorb_hash.hex(), chunks[0].offset, parts)
    for chunk, header, payload, out in layout:
        decoded = ChunkHeader.decode(header, chunk.offset)
        if decoded.uncompressed_size != chunk.size:
            raise ValueError(
                f"chunk {chunk.hash} of xorb {xorb_hash} holds {decoded.uncompressed_size} bytes, not {chunk.size}"
            )
        decompress_into(decoded, payload, out, chunk.offset)
    return buffer


def file_sha256(hub: Hub, record: XetFileRecord) -> str:
    """The sha256 of a Xet file's bytes (a claim's verification, fsck, a conversion's check). Raw payloads land in
    the pieces with one kernel copy (`_read_chunks`), so this runs about as fast as hashlib on a plain file."""
    digest = hashlib.sha256()
    for piece in iter_file_bytes(hub, record, 0, record.size):
        digest.update(piece)
    return digest.hexdigest()
