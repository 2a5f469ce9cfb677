"""HTTP byte ranges (RFC 9110 §14), the single-range subset clients use for resume and random reads."""

from __future__ import annotations

import re

from modelyard.domain.errors import RangeNotSatisfiable
from modelyard.domain.numbers import INT64_MAX, parse_natural

_RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")
_CLOSED = re.compile(r"([0-9]+)-([0-9]+)")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) of a satisfiable single range; None to send the whole content."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None  # not a single byte range: ignoring Range and answering 200 is allowed
    first_text, last_text = match.groups()
    first = parse_natural(first_text) if first_text else None
    last = parse_natural(last_text) if last_text else None
    if (first_text and first is None) or (last_text and last is None):
        raise RangeNotSatisfiable(f"The requested range names a position beyond {INT64_MAX}", size)
    if first is None:
        assert last is not None  # a suffix range: the last `last` bytes
        if last == 0:
            raise RangeNotSatisfiable(f"Requested range {header} is empty", size)
        return max(size - last, 0), size
    end = size if last is None else min(last + 1, size)
    if first >= size or first >= end:
        raise RangeNotSatisfiable(f"Requested range {header} is not satisfiable for a file of {size} bytes", size)
    return first, end


def parse_closed_range(text: str) -> tuple[int, int] | None:
    """(first, last), both inclusive, from `first-last`; None unless both are numbers within INT64_MAX."""
    match = _CLOSED.fullmatch(text)
    if match is None:
        return None
    first, last = parse_natural(match[1]), parse_natural(match[2])
    return None if first is None or last is None else (first, last)
