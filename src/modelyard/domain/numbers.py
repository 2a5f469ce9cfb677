"""Integers from clients (headers, query strings, tokens), checked for length before they are parsed.

Python's `int()` accepts Unicode digits and underscores, takes quadratic time on long strings and raises
ValueError past 4,300 digits; `str.isdigit()` also accepts superscripts that `int()` refuses. Every number a
client sends outside a JSON body goes through `parse_natural` instead.
"""

from __future__ import annotations

import re

INT64_MAX = 2**63 - 1  # every size, offset, count, id and timestamp fits in a signed 64-bit integer
MAX_DIGITS = len(str(INT64_MAX))
_DIGITS = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}")


def parse_natural(text: str) -> int | None:
    """The integer `text` spells in ASCII digits, or None when it is not such a number or exceeds INT64_MAX."""
    if _DIGITS.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= INT64_MAX else None
