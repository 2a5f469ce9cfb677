"""domain/ranges: every form of a single byte range, including the edges where an off-by-one would hide."""

from __future__ import annotations

import pytest

from modelyard.domain.errors import RangeNotSatisfiable
from modelyard.domain.ranges import parse_range

SIZE = 100


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", None),
        ("bytes=-", None),  # neither end: not a range
        ("bytes=0-0", (0, 1)),
        ("bytes=99-99", (99, 100)),
        ("bytes=99-", (99, 100)),
        ("bytes=-1", (99, 100)),
        ("bytes=-100", (0, 100)),
        ("bytes=-200", (0, 100)),  # a suffix longer than the file is all of it
        (" bytes=3-4 ", (3, 5)),
        ("bytes=0-1,5-6", None),
        ("bytes=a-b", None),
        ("items=0-5", None),
    ],
)
def test_single_ranges(header: str, expected):
    assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize("header", ["bytes=-0", "bytes=100-", "bytes=100-150", "bytes=20-10", "bytes=10-9"])
def test_unsatisfiable_ranges(header: str):
    with pytest.raises(RangeNotSatisfiable) as excinfo:
        parse_range(header, SIZE)
    assert excinfo.value.size == SIZE


def test_an_empty_file_has_no_first_byte():
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=0-", 0)
