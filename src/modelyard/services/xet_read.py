"""Plain bytes of a Xet file, rebuilt from the stored xorbs with a small, bounded buffer.

A download of a file stored only as Xet (curl, a browser, git-lfs, `HF_HUB_DISABLE_XET=1`) is answered with
these bytes while they are sent. The generator reads only the chunk records of the xorbs that hold the requested
bytes, a batch of whole chunks at a time (at most `STREAM_BATCH` uncompressed bytes, or one chunk), one record at a
time, decompressing each into the piece's buffer; between two pieces it holds nothing but the piece it yielded.
With a response that produces the next piece only once the connection has taken the previous one
(`api/streaming.PacedStreamingResponse`), a slow reader costs the server about one piece, whatever the file size.
Batches follow chunk boundaries, so no chunk is read or decompressed twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from modelyard.blobs.xorbs import XorbStore
from modelyard.domain.xet.hashes import MerkleHash
from modelyard.domain.xet.xorb import CHUNK_HEADER_SIZE, ChunkHeader, XorbChunk, chunk_bytes, decompress_chunks
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
    """The uncompressed bytes of consecutive chunks of a xorb, in one buffer: records are read and decompressed
    one at a time, so the piece is the only large allocation (fewer, alike allocations fragment the heap less)."""
    piece = bytearray(sum(chunk.size for chunk in chunks))
    position = 0
    records = xorbs.read_records(xorb_hash.hex(), chunks[0].offset, (chunk.length for chunk in chunks))
    for chunk, data in zip(chunks, records, strict=True):
        data = decompress_chunks(data, 1)
        if len(data) != chunk.size:
            raise ValueError(f"chunk {chunk.hash} of xorb {xorb_hash} holds {len(data)} bytes, not {chunk.size}")
        piece[position : position + chunk.size] = data
        position += chunk.size
    return piece


def file_sha256(hub: Hub, record: XetFileRecord) -> str:
    """The sha256 of a Xet file's bytes (a claim's verification). Each chunk record is read once and hashed as it is:
    uncompressed payloads (random data, weights that do not compress) are hashed without a copy, where
    `iter_file_bytes` assembles pieces for sending. About as fast as hashlib on a plain file."""
    digest = hashlib.sha256()
    xorbs = store(hub)
    tables = ChunkTables(hub)
    for stored in record.terms:
        term = stored.term
        table = tables.get(term.xorb_hash)
        if table is None:
            raise ValueError(f"xorb {term.xorb_hash} of a registered file has no chunk table")
        chunks = table[term.chunk_start : term.chunk_end]
        records = xorbs.read_records(term.xorb_hash.hex(), chunks[0].offset, (chunk.length for chunk in chunks))
        for chunk, data in zip(chunks, records, strict=True):
            digest.update(_chunk_to_hash(term.xorb_hash, chunk, data))
    return digest.hexdigest()


def _chunk_to_hash(xorb_hash: MerkleHash, chunk: XorbChunk, record: bytes) -> bytes | memoryview:
    view = memoryview(record)
    header = ChunkHeader.decode(view[:CHUNK_HEADER_SIZE], chunk.offset)
    data = chunk_bytes(header, view[CHUNK_HEADER_SIZE:], chunk.offset)
    if len(data) != chunk.size:
        raise ValueError(f"chunk {chunk.hash} of xorb {xorb_hash} holds {len(data)} bytes, not {chunk.size}")
    return data
