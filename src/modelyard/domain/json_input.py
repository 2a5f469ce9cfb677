"""JSON from clients, parsed strictly enough that every value can be stored as it is (git, the database)."""

from __future__ import annotations

import json
from typing import Any

from modelyard.domain.errors import BadRequest


def loads(data: bytes | str, what: str) -> Any:
    """Parse the JSON document `what` (e.g. "The request body"); BadRequest naming it when the document is not
    valid JSON, is nested too deeply, or holds text that is not valid Unicode."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise BadRequest(f"{what} is nested too deeply to be parsed") from None
    except ValueError:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not UTF-8/16/32
        raise BadRequest(f"{what} is not valid JSON") from None
    check_unicode(value, what)
    return value


def check_unicode(value: Any, what: str) -> None:
    """BadRequest when a string anywhere in the parsed JSON `value` (keys included) cannot be encoded as UTF-8.

    JSON lets a client escape half of a surrogate pair ("\\ud800"); Python decodes it to a lone surrogate that
    git, the database and every response encoder refuse, so it is refused here, where the client is told why.
    """
    pending = [value]
    while pending:  # iterative: the document may be as deep as the JSON parser allows
        item = pending.pop()
        if isinstance(item, str):
            _check_text(item, what)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, what)
                pending.append(child)
        elif isinstance(item, list):
            pending.extend(item)


def _check_text(text: str, what: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = text[error.start : error.end]
        raise BadRequest(
            f"{what} contains text that is not valid Unicode: {bad!r} is half of a UTF-16 surrogate pair"
        ) from None
