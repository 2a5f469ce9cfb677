"""check_shard_file on terms the shard parser would already refuse: the check holds on its own (it is the
last word before a file is registered), so an empty or negative chunk range is refused here too."""

from __future__ import annotations

import random

import pytest

from modelyard.domain.xet.chunking import split_chunks
from modelyard.domain.xet.errors import InvalidTerm
from modelyard.domain.xet.file_check import check_shard_file
from modelyard.domain.xet.hashes import file_hash, verification_hash
from modelyard.domain.xet.shard import ShardFile
from modelyard.domain.xet.terms import FileTerm
from modelyard.domain.xet.xorb import parse_xorb, serialize_xorb


@pytest.fixture(scope="module")
def xorb():
    chunks = split_chunks(random.Random(3).randbytes(300_000))
    parsed = parse_xorb(serialize_xorb(chunks[:4]))
    return parsed.hash, parsed.chunks


def _file(xorb_hash, chunks, start: int, end: int) -> ShardFile:
    selected = chunks[start:end] if start >= 0 else chunks[start:] + chunks[:end]
    term = FileTerm(xorb_hash, start, end, sum(c.size for c in chunks[start:end]))
    leaves = [(c.hash, c.size) for c in selected]
    return ShardFile(file_hash(leaves), (term,), (verification_hash(c.hash for c in chunks[start:end]),))


def test_a_whole_xorb_term_passes(xorb):
    xorb_hash, chunks = xorb
    check_shard_file(_file(xorb_hash, chunks, 0, len(chunks)), {xorb_hash: chunks})


def test_an_empty_term_is_refused(xorb):
    xorb_hash, chunks = xorb
    empty = ShardFile(file_hash([]), (FileTerm(xorb_hash, 2, 2, 0),), (verification_hash([]),))
    with pytest.raises(InvalidTerm, match="outside"):
        check_shard_file(empty, {xorb_hash: chunks})


def test_a_negative_chunk_start_is_refused(xorb):
    xorb_hash, chunks = xorb
    with pytest.raises(InvalidTerm, match="outside"):
        check_shard_file(_file(xorb_hash, chunks, -1, 1), {xorb_hash: chunks})
