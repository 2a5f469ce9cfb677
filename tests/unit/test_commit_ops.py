"""domain/commit_ops: the NDJSON commit body, line by line, at the edges a mutation check found unguarded."""

from __future__ import annotations

import base64
import json

import pytest

from modelyard.domain.commit_ops import LfsAddition, parse_ndjson
from modelyard.domain.errors import BadRequest

OID = "c" * 64


def body(*lines: object) -> bytes:
    return b"\n".join(json.dumps(line).encode() for line in lines)


HEADER = {"key": "header", "value": {"summary": "A commit"}}


def lfs(size: object) -> dict:
    return {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": OID, "size": size}}


def test_description_is_optional_and_kept_when_given():
    plain = parse_ndjson(body(HEADER))
    assert plain.description == ""
    assert plain.message == "A commit\n"
    described = parse_ndjson(body({"key": "header", "value": {"summary": "A commit", "description": "Why."}}))
    assert described.description == "Why."
    assert described.message == "A commit\n\nWhy.\n"


def test_an_empty_regular_file_is_allowed():
    request = parse_ndjson(body(HEADER, {"key": "file", "value": {"path": "empty.txt", "content": ""}}))
    assert request.files == {"empty.txt": b""}
    encoded = base64.b64encode(b"data").decode()
    request = parse_ndjson(body(HEADER, {"key": "file", "value": {"path": "a.txt", "content": encoded}}))
    assert request.files == {"a.txt": b"data"}


@pytest.mark.parametrize("size", [0, 1, 10**12, None])
def test_lfs_sizes_that_are_accepted(size):
    line = lfs(size)
    if size is None:
        del line["value"]["size"]
    (addition,) = parse_ndjson(body(HEADER, line)).lfs_files
    assert addition == LfsAddition("w.bin", OID, size)


@pytest.mark.parametrize("size", [-1, -2, "12", 1.5, [1]])
def test_lfs_sizes_that_are_refused(size):
    with pytest.raises(BadRequest, match="size must be a non-negative integer"):
        parse_ndjson(body(HEADER, lfs(size)))


@pytest.mark.parametrize(
    "line",
    [[1, 2], "file", 3, {"key": 1, "value": {}}, {"key": "file", "value": "not an object"}, {"key": "file"}],
)
def test_lines_that_are_not_key_value_objects_are_refused(line):
    with pytest.raises(BadRequest, match="Line 2 of the commit body must be an object"):
        parse_ndjson(body(HEADER, line))


def test_lfs_additions_are_values():
    """Hashable and immutable: compared and collected by content."""
    addition = LfsAddition("w.bin", OID, 3)
    assert {addition, LfsAddition("w.bin", OID, 3)} == {addition}
    with pytest.raises(AttributeError):
        addition.size = 4  # type: ignore[misc]
