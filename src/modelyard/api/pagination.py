"""Pagination the way the client follows it: an absolute `Link: <…>; rel="next"` URL carrying every filter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar
from urllib.parse import quote

from fastapi import Request

from modelyard.domain.errors import BadRequest
from modelyard.domain.numbers import parse_natural
from modelyard.frontdoor.deps import base_url

T = TypeVar("T")


def page(request: Request, items: Sequence[T], page_size: int) -> tuple[Sequence[T], dict[str, str]]:
    """The page named by the `cursor` query parameter (an offset), and the Link header for the next one."""
    start = _number(request, "cursor") or 0
    size = min(_number(request, "limit") or page_size, page_size)
    chunk = items[start : start + size]
    headers: dict[str, str] = {}
    if start + size < len(items):
        headers["Link"] = f'<{next_url(request, cursor=str(start + size))}>; rel="next"'
    return chunk, headers


def next_link(request: Request, cursor: str | None) -> dict[str, str]:
    """The Link header to the page that starts at `cursor` (a keyset cursor); none after the last page."""
    return {"Link": f'<{next_url(request, cursor=cursor)}>; rel="next"'} if cursor else {}


def _number(request: Request, name: str) -> int | None:
    """The query parameter `name` as a number; None when absent; 400 when it is not a number."""
    text = request.query_params.get(name)
    if text is None:
        return None
    value = parse_natural(text)
    if value is None:
        raise BadRequest(f"Invalid {name} {text[:100]!r}: expected a non-negative integer")
    return value


def next_url(request: Request, **changes: str) -> str:
    params = [(key, value) for key, value in request.query_params.multi_items() if key not in changes]
    params.extend(changes.items())
    query = "&".join(f"{_quote(key)}={_quote(value)}" for key, value in params)
    return f"{base_url(request)}{_raw_path(request)}?{query}"


def _quote(value: str) -> str:
    return quote(value, safe="")


def _raw_path(request: Request) -> str:
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1").split("?", 1)[0] if raw else request.url.path
