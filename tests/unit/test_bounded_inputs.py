"""Bounded work per request, in the pure parts: numbers from clients, byte ranges, commit bodies, shards, the
multipart part size."""

from __future__ import annotations

import base64
import json
import logging
import math
import struct

import pytest

from modelyard.domain.commit_ops import parse_ndjson
from modelyard.domain.errors import BadRequest, RangeNotSatisfiable
from modelyard.domain.numbers import INT64_MAX, parse_natural
from modelyard.domain.ranges import parse_closed_range, parse_range
from modelyard.domain.xet.errors import ShardTooLarge
from modelyard.domain.xet.shard import (
    MAX_FILE_CHUNK_REFERENCES,
    MAX_SHARD_CHUNK_REFERENCES,
    MAX_SHARD_FILES,
    MAX_SHARD_TERMS,
    RECORD_SIZE,
    SHARD_HEADER_TAG,
    parse_shard,
)
from modelyard.logs import ExpectedProbes
from modelyard.services.lfs import part_size

HUGE = "9" * 4301  # past Python's 4,300-digit limit for int()
GiB = 1024**3
MiB = 1024**2


# --- numbers ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("42", 42), ("007", 7), (str(INT64_MAX), INT64_MAX)],
)
def test_parse_natural_reads_ascii_digits(text, value):
    assert parse_natural(text) == value


@pytest.mark.parametrize(
    "text",
    ["", "-1", "+1", " 1", "1_000", "1.0", "²", "\u0663", str(INT64_MAX + 1), "1" * 20, HUGE],
)
def test_parse_natural_refuses_everything_else(text):
    assert parse_natural(text) is None


# --- byte ranges -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("header", [f"bytes={HUGE}-", f"bytes=0-{HUGE}", f"bytes=-{HUGE}", f"bytes={INT64_MAX + 1}-"])
def test_over_long_range_numbers_are_not_satisfiable(header):
    with pytest.raises(RangeNotSatisfiable, match="beyond") as info:
        parse_range(header, 1000)
    assert info.value.size == 1000


def test_ordinary_ranges_still_parse():
    assert parse_range("bytes=10-19", 100) == (10, 20)
    assert parse_range("bytes=90-", 100) == (90, 100)
    assert parse_range("bytes=-10", 100) == (90, 100)
    assert parse_range(f"bytes=0-{INT64_MAX}", 100) == (0, 100)
    assert parse_range("bytes=\u0661-2", 100) is None  # not ASCII digits: not a range we serve


def test_closed_range():
    assert parse_closed_range("3-9") == (3, 9)
    for text in ("3-", "-9", "3-9-1", "a-b", f"0-{HUGE}", f"{INT64_MAX + 1}-0", "\u0661-2"):
        assert parse_closed_range(text) is None, text


# --- commit bodies ---------------------------------------------------------------------------------------
def _body(*operations: dict) -> bytes:
    lines = [{"key": "header", "value": {"summary": "s"}}, *operations]
    return b"\n".join(json.dumps(line).encode() for line in lines)


def _file(path: str) -> dict:
    return {"key": "file", "value": {"path": path, "content": base64.b64encode(b"x").decode(), "encoding": "base64"}}


def _lfs(path: str) -> dict:
    return {"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": "a" * 64, "size": 1}}


@pytest.mark.parametrize(
    "operations",
    [
        (_file("a.txt"), _file("a.txt")),
        (_file("a.txt"), _lfs("a.txt")),
        (_lfs("a.txt"), _lfs("a.txt")),
        (_file("a.txt"), {"key": "deletedFile", "value": {"path": "a.txt"}}),
        ({"key": "deletedFile", "value": {"path": "a.txt"}}, _lfs("a.txt")),
    ],
)
def test_a_commit_naming_a_path_twice_is_refused(operations):
    with pytest.raises(BadRequest, match=r"The commit names a\.txt more than once"):
        parse_ndjson(_body(*operations))


def test_deleting_a_folder_and_adding_into_it_is_allowed():
    request = parse_ndjson(_body({"key": "deletedFolder", "value": {"path": "dir"}}, _file("dir/a.txt")))
    assert request.deleted_folders == ["dir"] and list(request.files) == ["dir/a.txt"]


# --- shards ----------------------------------------------------------------------------------------------
_FILE_HEADER = struct.Struct("<32sII8x")
_TERM = struct.Struct("<32sIIII")
_BOOKEND = b"\xff" * 32 + bytes(RECORD_SIZE - 32)


def _shard(files: list[list[tuple[int, int]]]) -> bytes:
    """An upload shard whose files have the given terms (chunk ranges of one xorb), nothing else."""
    parts = [SHARD_HEADER_TAG + struct.pack("<QQ", 2, 0)]
    for number, terms in enumerate(files):
        parts.append(_FILE_HEADER.pack(number.to_bytes(32, "little"), 0, len(terms)))
        parts.extend(_TERM.pack(b"\x07" * 32, 0, 1000, start, end) for start, end in terms)
    return b"".join([*parts, _BOOKEND, _BOOKEND])


def test_a_file_repeating_a_whole_xorb_past_the_chunk_limit_is_refused():
    repeats = MAX_FILE_CHUNK_REFERENCES // 8192
    assert len(parse_shard(_shard([[(0, 8192)] * repeats])).files[0].terms) == repeats
    with pytest.raises(ShardTooLarge, match=f"over the limit of {MAX_FILE_CHUNK_REFERENCES}") as info:
        parse_shard(_shard([[(0, 8192)] * (repeats + 1)]))
    assert info.value.status == 400


def test_a_shard_naming_too_many_chunks_in_all_is_refused():
    per_file = MAX_FILE_CHUNK_REFERENCES // 8192
    files = math.ceil(MAX_SHARD_CHUNK_REFERENCES / MAX_FILE_CHUNK_REFERENCES)
    parse_shard(_shard([[(0, 8192)] * per_file] * files))  # exactly at the limit
    with pytest.raises(ShardTooLarge, match=f"more than {MAX_SHARD_CHUNK_REFERENCES} chunks"):
        parse_shard(_shard([[(0, 8192)] * per_file] * files + [[(0, 1)]]))


def test_a_shard_with_too_many_files_or_terms_is_refused():
    with pytest.raises(ShardTooLarge, match=f"more than {MAX_SHARD_FILES} files"):
        parse_shard(_shard([[]] * (MAX_SHARD_FILES + 1)))
    # One file declaring one term too many is refused at its header, before any term is read.
    header = SHARD_HEADER_TAG + struct.pack("<QQ", 2, 0) + _FILE_HEADER.pack(bytes(32), 0, MAX_SHARD_TERMS + 1)
    body = header + _TERM.pack(b"\x07" * 32, 0, 1, 0, 1) * (MAX_SHARD_TERMS + 1) + _BOOKEND + _BOOKEND
    with pytest.raises(ShardTooLarge, match=f"more than {MAX_SHARD_TERMS} file terms"):
        parse_shard(body)


# --- the multipart part size -----------------------------------------------------------------------------
def test_part_size_grows_to_stay_within_the_budget():
    assert part_size(50 * GiB, 64 * MiB, 10_000) == 64 * MiB  # 800 parts fit
    assert part_size(50 * GiB, 16 * MiB, 1_000) == math.ceil(50 * GiB / 1_000)
    assert math.ceil(50 * GiB / part_size(50 * GiB, 16 * MiB, 10)) == 10
    assert part_size(100 * MiB, 64 * MiB, 0) == 100 * MiB  # a budget of zero still yields one part


# --- the access log --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "status", "expected"),
    [
        ("POST", "/xet-cas/v2/shards", 404, True),
        ("POST", "/xet-cas/v1/xorb-grants/default/" + "a" * 64, 404, True),
        ("GET", "/xet-cas/v2/reconstructions/" + "a" * 64, 404, True),
        ("POST", "/alice/m.git/info/lfs/locks/verify", 501, True),
        ("POST", "/datasets/alice/d.git/info/lfs/locks/verify", 501, True),
        ("POST", "/xet-cas/v2/shards", 401, False),  # a refused token is worth a line
        ("GET", "/xet-cas/v1/reconstructions/" + "a" * 64, 404, False),
        ("GET", "/xet-cas/v1/chunks/default/" + "a" * 64, 404, False),
        ("POST", "/alice/m.git/info/lfs/locks", 501, False),
    ],
)
def test_only_expected_probes_are_left_out_of_the_access_log(method, path, status, expected):
    # The record uvicorn's access logger makes: client, method, path with query, HTTP version, status.
    args = ("127.0.0.1:5000", method, path + "?x=1", "1.1", status)
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None)
    assert ExpectedProbes("/xet-cas").filter(record) is not expected
