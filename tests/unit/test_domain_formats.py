import base64
import json

import pytest

from modelyard.api.raw_path import decode_keeping_slashes
from modelyard.domain.cards import front_matter, lenient_front_matter
from modelyard.domain.commit_ops import parse_ndjson
from modelyard.domain.dates import iso_z
from modelyard.domain.errors import BadRequest, RangeNotSatisfiable
from modelyard.domain.lfs_pointer import LfsPointer
from modelyard.domain.ranges import parse_range
from modelyard.domain.revisions import candidate_refs, validate_new_ref_name

OID = "a" * 64


def test_lfs_pointer_round_trip():
    pointer = LfsPointer(OID, 1234)
    data = pointer.encode()
    assert data == f"version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 1234\n".encode()
    assert LfsPointer.decode(data) == pointer


@pytest.mark.parametrize(
    "data", [b"hello", b"version https://git-lfs.github.com/spec/v1\noid sha1:abc\nsize 1\n", b"\x00" * 2000]
)
def test_non_pointers(data):
    assert LfsPointer.decode(data) is None


def test_dates_end_in_z():
    from datetime import UTC, datetime

    assert iso_z(datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)) == "2024-01-02T03:04:05.678Z"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 10)),
        ("bytes=10-", (10, 100)),
        ("bytes=-5", (95, 100)),
        ("bytes=90-200", (90, 100)),
    ],
)
def test_ranges(header, expected):
    assert parse_range(header, 100) == expected


def test_unsatisfiable_range():
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=100-", 100)


def test_multi_range_is_ignored():
    assert parse_range("bytes=0-1,5-6", 100) is None


def test_revision_candidates_and_new_names():
    assert candidate_refs("main") == ["refs/heads/main", "refs/tags/main"]
    assert candidate_refs("refs/pr/1") == ["refs/pr/1"]
    assert validate_new_ref_name("feat/x", "branch") == "feat/x"
    for bad in ["refs/pr/5", "a..b", "with space", "end.lock", "/lead", "trail/"]:
        with pytest.raises(BadRequest):
            validate_new_ref_name(bad, "branch")


def _line(key, value):
    return json.dumps({"key": key, "value": value}).encode()


def test_parse_commit_body():
    body = b"\n".join(
        [
            _line("header", {"summary": "add", "description": "", "parentCommit": "abcde"}),
            _line("file", {"path": "a.txt", "content": base64.b64encode(b"hi").decode(), "encoding": "base64"}),
            _line("lfsFile", {"path": "w.bin", "algo": "sha256", "oid": OID, "size": 5}),
            _line("deletedFile", {"path": "old.txt"}),
            _line("deletedFolder", {"path": "logs/"}),
        ]
    )
    request = parse_ndjson(body)
    assert request.summary == "add" and request.parent_commit == "abcde"
    assert request.files == {"a.txt": b"hi"}
    assert request.lfs_files[0].oid == OID and request.lfs_files[0].size == 5
    assert request.deleted_files == ["old.txt"] and request.deleted_folders == ["logs/"]
    assert request.message == "add\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "Empty"),
        (b"not json", "not valid JSON"),
        (_line("file", {"path": "a"}), "first line"),
        (_line("header", {"summary": ""}), "summary"),
        (_line("header", {"summary": "s"}) + b"\n" + _line("file", {"path": "a", "content": "!!"}), "base64"),
        (_line("header", {"summary": "s"}) + b"\n" + _line("rename", {"path": "a"}), "Unsupported"),
    ],
)
def test_malformed_commit_bodies(body, message):
    with pytest.raises(BadRequest, match=message):
        parse_ndjson(body)


def test_card_front_matter():
    text = "---\nlicense: mit\ntags: [a, b]\nbase_model: org/base\n---\n# Title\n"
    card = front_matter(text)
    assert card["license"] == "mit"
    assert card["tags"] == ["a", "b"]
    assert front_matter("# no metadata") == {}
    with pytest.raises(BadRequest):
        front_matter("---\nkey: [unclosed\n---\n")
    assert lenient_front_matter("---\n- a list\n---\n") == {}


def test_raw_path_keeps_encoded_slashes():
    assert (
        decode_keeping_slashes("/api/models/a/b/tree/refs%2Fpr%2F1/data%2Fx")
        == "/api/models/a/b/tree/refs%2Fpr%2F1/data%2Fx"
    )
    assert decode_keeping_slashes("/a/b/resolve/main/my%20file%25.txt") == "/a/b/resolve/main/my file%25.txt"
