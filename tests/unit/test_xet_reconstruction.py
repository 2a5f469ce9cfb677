"""Reconstruction planning (§5.5): terms, offset_into_first_range and fetch byte ranges."""

from __future__ import annotations

import random

import pytest

from modelyard.domain.errors import RangeNotSatisfiable
from modelyard.domain.xet.hashes import MerkleHash
from modelyard.domain.xet.reconstruction import ReconstructionPlan, plan_reconstruction
from modelyard.domain.xet.terms import FileTerm
from modelyard.domain.xet.xorb import CompressionScheme, decompress_chunks, parse_xorb, serialize_xorb

RNG = random.Random(11)
# Two xorbs with small, uneven chunks (content, not CDC, decides sizes here: planning does not care).
CHUNKS_A = [RNG.randbytes(n) for n in (100, 250, 50, 300)]
CHUNKS_B = [b"B" * n for n in (400, 120, 80)]  # compressible: LZ4 records are shorter than the data
BODY_A = serialize_xorb(CHUNKS_A, CompressionScheme.LZ4)
BODY_B = serialize_xorb(CHUNKS_B, CompressionScheme.LZ4)
XORB_A = parse_xorb(BODY_A)
XORB_B = parse_xorb(BODY_B)
TABLES = {XORB_A.hash: XORB_A.chunks, XORB_B.hash: XORB_B.chunks}
BODIES = {XORB_A.hash: BODY_A, XORB_B.hash: BODY_B}


def _term(xorb, chunks, start, end):
    return FileTerm(xorb.hash, start, end, sum(len(c) for c in chunks[start:end]))


# File = A[1:4] + B[0:3] + A[0:2]  (the last term re-uses xorb A, like a deduplicated upload)
TERMS = [_term(XORB_A, CHUNKS_A, 1, 4), _term(XORB_B, CHUNKS_B, 0, 3), _term(XORB_A, CHUNKS_A, 0, 2)]
CONTENT = b"".join(CHUNKS_A[1:4]) + b"".join(CHUNKS_B) + b"".join(CHUNKS_A[0:2])


def url_for(xorb: MerkleHash, first: int, last: int) -> str:
    return f"https://cas.test/fetch/{xorb}?r={first}-{last}"


def iter_plan_bytes(plan: ReconstructionPlan):
    """Apply a plan like the client does: each term's records decompressed, the first skipped into, the last
    trimmed to the range."""
    remaining, skip = plan.length, plan.offset_into_first_range
    for term in plan.terms:
        data = decompress_chunks(BODIES[term.xorb_hash][term.record_start : term.record_end], term.chunk_count)
        assert len(data) == term.unpacked_length
        piece = data[skip : skip + remaining]
        skip, remaining = 0, remaining - len(piece)
        yield piece


def test_whole_file_v1_json():
    plan = plan_reconstruction(TERMS, TABLES, url_for)
    assert (plan.file_size, plan.start, plan.end, plan.length) == (len(CONTENT), 0, len(CONTENT) - 1, len(CONTENT))
    a, b = XORB_A.hash.hex(), XORB_B.hash.hex()
    a_chunks, b_chunks = XORB_A.chunks, XORB_B.chunks
    assert plan.to_v1_json() == {
        "offset_into_first_range": 0,
        "terms": [
            {"hash": a, "unpacked_length": 600, "range": {"start": 1, "end": 4}},
            {"hash": b, "unpacked_length": 600, "range": {"start": 0, "end": 3}},
            {"hash": a, "unpacked_length": 350, "range": {"start": 0, "end": 2}},
        ],
        "fetch_info": {
            # A's chunk ranges [1,4) and [0,2) overlap: merged into one fetch of the whole xorb.
            a: [
                {
                    "range": {"start": 0, "end": 4},
                    "url": url_for(XORB_A.hash, 0, len(BODY_A) - 1),
                    "url_range": {"start": 0, "end": a_chunks[3].end - 1},
                }
            ],
            b: [
                {
                    "range": {"start": 0, "end": 3},
                    "url": url_for(XORB_B.hash, 0, len(BODY_B) - 1),
                    "url_range": {"start": 0, "end": b_chunks[2].end - 1},
                }
            ],
        },
    }
    assert b"".join(iter_plan_bytes(plan)) == CONTENT


def test_range_starting_mid_chunk_trims_terms():
    # File layout: A1 = bytes 0..250, A2 = 250..300, A3 = 300..600, B0 = 600..1000, ...
    # so bytes 310..700 start 10 bytes into A3 and end inside B0.
    plan = plan_reconstruction(TERMS, TABLES, url_for, (310, 700))
    assert plan.offset_into_first_range == 10
    assert [(t.xorb_hash, t.chunk_start, t.chunk_end, t.unpacked_length) for t in plan.terms] == [
        (XORB_A.hash, 3, 4, 300),
        (XORB_B.hash, 0, 1, 400),
    ]
    v1 = plan.to_v1_json()
    (fetch_a,) = v1["fetch_info"][XORB_A.hash.hex()]
    assert fetch_a["range"] == {"start": 3, "end": 4}
    assert fetch_a["url_range"] == {"start": XORB_A.chunks[3].offset, "end": XORB_A.chunks[3].end - 1}
    (fetch_b,) = v1["fetch_info"][XORB_B.hash.hex()]
    assert fetch_b["url_range"] == {"start": 0, "end": XORB_B.chunks[0].end - 1}
    assert b"".join(iter_plan_bytes(plan)) == CONTENT[310:701]


def test_adjacent_ranges_of_one_xorb_merge_and_disjoint_ones_do_not():
    terms = [_term(XORB_A, CHUNKS_A, 0, 1), _term(XORB_A, CHUNKS_A, 1, 2), _term(XORB_A, CHUNKS_A, 3, 4)]
    plan = plan_reconstruction(terms, TABLES, url_for)
    assert [(f.chunk_start, f.chunk_end) for f in plan.fetches] == [(0, 2), (3, 4)]
    assert plan.fetches[1].byte_start == XORB_A.chunks[3].offset
    assert plan.fetches[1].byte_last == len(BODY_A) - 1


def test_end_is_clamped_and_open_ended_ranges_work():
    size = len(CONTENT)
    clamped = plan_reconstruction(TERMS, TABLES, url_for, (size - 5, size + 1000))
    assert (clamped.start, clamped.end) == (size - 5, size - 1)
    assert [(t.chunk_start, t.chunk_end) for t in clamped.terms] == [(1, 2)]
    assert b"".join(iter_plan_bytes(clamped)) == CONTENT[-5:]
    open_ended = plan_reconstruction(TERMS, TABLES, url_for, (size - 1, None))
    assert b"".join(iter_plan_bytes(open_ended)) == CONTENT[-1:]


def test_start_past_the_end_is_416():
    with pytest.raises(RangeNotSatisfiable) as info:
        plan_reconstruction(TERMS, TABLES, url_for, (len(CONTENT), len(CONTENT) + 10))
    assert info.value.status == 416
    with pytest.raises(ValueError):
        plan_reconstruction(TERMS, TABLES, url_for, (10, 5))


def test_random_ranges_reassemble_exactly():
    rng = random.Random(2)
    for _ in range(200):
        start = rng.randrange(len(CONTENT))
        last = rng.randrange(start, len(CONTENT) + 50)
        plan = plan_reconstruction(TERMS, TABLES, url_for, (start, last))
        assert b"".join(iter_plan_bytes(plan)) == CONTENT[start : last + 1]
        # Every term's chunk range sits inside a fetch range of its xorb.
        for term in plan.terms:
            assert any(
                f.xorb_hash == term.xorb_hash and f.chunk_start <= term.chunk_start and term.chunk_end <= f.chunk_end
                for f in plan.fetches
            )


def test_v2_json_has_one_range_per_entry():
    plan = plan_reconstruction(TERMS, TABLES, url_for, (0, 99))
    v2 = plan.to_v2_json()
    assert v2["terms"] == [{"hash": XORB_A.hash.hex(), "unpacked_length": 250, "range": {"start": 1, "end": 2}}]
    assert v2["xorbs"] == {
        XORB_A.hash.hex(): [
            {
                "url": url_for(XORB_A.hash, XORB_A.chunks[1].offset, XORB_A.chunks[1].end - 1),
                "ranges": [
                    {
                        "chunks": {"start": 1, "end": 2},
                        "bytes": {"start": XORB_A.chunks[1].offset, "end": XORB_A.chunks[1].end - 1},
                    }
                ],
            }
        ]
    }


def test_empty_file():
    plan = plan_reconstruction([], {}, url_for)
    assert plan.to_v1_json() == {"offset_into_first_range": 0, "terms": [], "fetch_info": {}}
    assert plan.length == 0 and list(iter_plan_bytes(plan)) == []
    with pytest.raises(RangeNotSatisfiable):
        plan_reconstruction([], {}, url_for, (0, 10))


def test_inconsistent_index_is_an_internal_error():
    bad = [FileTerm(XORB_A.hash, 0, 2, 999)]
    with pytest.raises(ValueError, match="disagrees"):
        plan_reconstruction(bad, TABLES, url_for)
    with pytest.raises(ValueError, match="no chunk table"):
        plan_reconstruction(TERMS, {}, url_for)
