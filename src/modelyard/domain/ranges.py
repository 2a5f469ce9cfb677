"""HTTP byte ranges (RFC 9110 §14), the single-range subset clients use for resume and random reads."""

from __future__ import annotations

import re

from modelyard.domain.errors import RangeNotSatisfiable

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) of a satisfiable single range; None to send the whole content."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None  # not a single byte range: ignoring Range and answering 200 is allowed
    first, last = match.groups()
    if first == "":
        length = int(last)
        if length == 0:
            raise RangeNotSatisfiable(f"Requested range {header} is empty", size)
        return max(size - length, 0), size
    start = int(first)
    end = size if last == "" else min(int(last) + 1, size)
    if start >= size or start >= end:
        raise RangeNotSatisfiable(f"Requested range {header} is not satisfiable for a file of {size} bytes", size)
    return start, end
