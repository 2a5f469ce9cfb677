"""The vectorized streaming chunker cuts exactly where the reference chunker (and so hf_xet) does."""

from __future__ import annotations

import os
import random

import pytest

from modelyard.domain.xet.chunking import MAX_CHUNK_SIZE, chunk_boundaries
from modelyard.domain.xet.stream_chunking import StreamChunker


def _stream_boundaries(data: bytes, block_sizes: list[int]) -> list[int]:
    chunker = StreamChunker()
    ends: list[int] = []
    position = 0

    def take(chunks) -> None:  # type: ignore[no-untyped-def]
        for chunk in chunks:
            ends.append((ends[-1] if ends else 0) + len(chunk))

    sizes = iter(block_sizes)
    while position < len(data):
        size = next(sizes, 1 << 20)
        take(chunker.feed(data[position : position + size]))
        position += size
    take(chunker.finish())
    return ends


@pytest.mark.parametrize(
    "data",
    [
        os.urandom(2_000_000),
        b"abc" * 300_000 + os.urandom(300_000),  # long runs without a cut: chunks end at the maximum size
        bytes(3 * MAX_CHUNK_SIZE + 17),
        os.urandom(100),
        b"",
    ],
    ids=["random", "repetitive", "zeros", "tiny", "empty"],
)
def test_stream_chunker_matches_the_reference(data: bytes) -> None:
    rng = random.Random(7)
    expected = chunk_boundaries(data)
    assert _stream_boundaries(data, [1 << 20] * 10) == expected
    assert _stream_boundaries(data, [rng.randrange(1, 300_000) for _ in range(1000)]) == expected
    assert _stream_boundaries(data, [len(data) or 1]) == expected


def test_file_hash_is_the_one_hf_xet_computes(tmp_path) -> None:
    import hf_xet

    from modelyard.domain.xet.hashes import chunk_hash, file_hash

    data = os.urandom(3_000_000) + bytes(400_000) + os.urandom(700_001)
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    chunker = StreamChunker()
    chunks = [bytes(c) for c in chunker.feed(data[:1_234_567])] + [bytes(c) for c in chunker.feed(data[1_234_567:])]
    chunks += [bytes(c) for c in chunker.finish()]
    assert b"".join(chunks) == data
    ours = file_hash((chunk_hash(chunk), len(chunk)) for chunk in chunks)
    assert ours.hex() == hf_xet.hash_files([str(path)])[0].hash
