"""Pagination the way the client follows it: an absolute `Link: <…>; rel="next"` URL carrying every filter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar
from urllib.parse import quote

from fastapi import Request

from modelyard.api.deps import base_url

T = TypeVar("T")


def page(request: Request, items: Sequence[T], page_size: int) -> tuple[Sequence[T], dict[str, str]]:
    """The page named by the `cursor` query parameter (an offset), and the Link header for the next one."""
    cursor = request.query_params.get("cursor", "0")
    start = int(cursor) if cursor.isdigit() else 0
    limit_param = request.query_params.get("limit", "")
    size = min(int(limit_param), page_size) if limit_param.isdigit() and int(limit_param) > 0 else page_size
    chunk = items[start : start + size]
    headers: dict[str, str] = {}
    if start + size < len(items):
        headers["Link"] = f'<{next_url(request, cursor=str(start + size))}>; rel="next"'
    return chunk, headers


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
