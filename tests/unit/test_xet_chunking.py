"""Gearhash content-defined chunking (§1), checked on the spec's vectors (§2.7)."""

from __future__ import annotations

import hashlib
import random

from modelyard.domain.xet.chunking import (
    GEAR_TABLE,
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
    chunk_boundaries,
    iter_chunks,
    split_chunks,
)


def test_table_is_the_gearhash_default_table():
    assert len(GEAR_TABLE) == 256 and len(set(GEAR_TABLE)) == 256
    assert GEAR_TABLE[0] == 0xB088D3A9E840F559
    assert GEAR_TABLE[-1] == 0x63C7A906C1DD187B


def test_empty_and_tiny_inputs():
    assert chunk_boundaries(b"") == []
    assert split_chunks(b"") == []
    assert split_chunks(b"a") == [b"a"]
    assert split_chunks(b"hello xet " * 100) == [b"hello xet " * 100]


def test_periodic_data_is_cut_at_the_maximum_size():
    data = bytes(range(256)) * 4096
    assert chunk_boundaries(data) == [MAX_CHUNK_SIZE * (i + 1) for i in range(8)]


def test_spec_vector_chunk_sizes():
    data = b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(40000))
    ends = chunk_boundaries(data)
    sizes = [b - a for a, b in zip([0, *ends], ends, strict=False)]
    assert len(sizes) == 22
    assert sizes[:6] == [76816, 43650, 117926, 131072, 10987, 44104]
    assert ends[-1] == len(data)


def test_chunks_respect_limits_and_reassemble():
    data = random.Random(5).randbytes(700_000)
    chunks = list(iter_chunks(data))
    assert b"".join(chunks) == data
    assert len(chunks) > 3
    assert all(MIN_CHUNK_SIZE <= len(c) <= MAX_CHUNK_SIZE for c in chunks[:-1])
    assert 1 <= len(chunks[-1]) <= MAX_CHUNK_SIZE


def test_cut_points_are_content_defined():
    """Inserting bytes at the front only changes the first chunk(s); later cuts shift along."""
    rng = random.Random(9)
    data = rng.randbytes(500_000)
    original = set(split_chunks(data))
    shifted = split_chunks(b"inserted prefix" + data)
    assert len(original.intersection(shifted)) >= len(original) - 2
