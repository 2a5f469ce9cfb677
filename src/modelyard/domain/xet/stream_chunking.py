"""The chunker of `chunking.py`, vectorized with numpy and fed a stream, for converting whole files (LFS -> Xet).

Same boundaries as hf_xet (so that conversions and client uploads dedup against each other), at tens of MB/s
instead of a few: the gear hash at byte i only depends on bytes i-63..i (it shifts left once per byte), so it is
the sum of GEAR[b(i-k)] << k for k < 64, which six shift-and-add passes over a block compute for every position at
once (each pass doubles the span a value covers). The positions where a cut is allowed are then found in one
comparison; choosing the cuts among them (minimum and maximum chunk sizes) is a short loop over those positions.
Blocks are 64 KiB so that the passes run in the CPU cache.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from modelyard.domain.xet.chunking import CUT_MASK, GEAR_TABLE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE

_TABLE = np.array(GEAR_TABLE, dtype=np.uint64)
_MASK = np.uint64(CUT_MASK)
_WINDOW = 64
_BLOCK = 64 * 1024


def _hashes(window: np.ndarray) -> np.ndarray:
    """The gear hash ending at each byte of `window` from its 64th on: element k is the hash at byte k + 63."""
    hashes = _TABLE[window]
    span = 1
    while span < _WINDOW:
        hashes = hashes[span:] + (hashes[:-span] << np.uint64(span))
        span *= 2
    return hashes


def cut_candidates(data: np.ndarray) -> np.ndarray:
    """Every index i >= 63 of `data` where a chunk may end after byte i (the top 16 bits of the hash are zero)."""
    found = []
    for start in range(_WINDOW - 1, len(data), _BLOCK):
        low = start - (_WINDOW - 1)
        hashes = _hashes(data[low : start + _BLOCK])
        found.append(np.flatnonzero((hashes & _MASK) == 0) + start)
    return np.concatenate(found) if found else np.empty(0, dtype=np.int64)


class StreamChunker:
    """Feed the bytes of a file in blocks; get its chunks (memoryviews valid until the next `feed`) in order."""

    def __init__(self) -> None:
        self._pending = b""  # the start of the chunk that the next block continues

    def feed(self, block: bytes) -> Iterator[memoryview]:
        yield from self._chunks(self._pending + block, final=False)

    def finish(self) -> Iterator[memoryview]:
        yield from self._chunks(self._pending, final=True)
        self._pending = b""

    def _chunks(self, buffer: bytes, final: bool) -> Iterator[memoryview]:
        # The buffer starts at a chunk boundary, so every hash the cut rule looks at lies inside it.
        candidates = cut_candidates(np.frombuffer(buffer, dtype=np.uint8))
        view = memoryview(buffer)
        size = len(buffer)
        start = 0
        while start < size:
            first = start + MIN_CHUNK_SIZE - 1  # the byte that makes the chunk MIN_CHUNK_SIZE long
            limit = start + MAX_CHUNK_SIZE
            index = int(np.searchsorted(candidates, first))
            if index < len(candidates) and candidates[index] < limit:
                cut = int(candidates[index]) + 1
            elif limit <= size or final:
                cut = min(limit, size)
            else:
                break  # the chunk may still end in bytes not read yet
            yield view[start:cut]
            start = cut
        self._pending = buffer[start:]
