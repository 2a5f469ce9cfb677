"""Route on the raw path, so that `%2F` inside a revision or tree path stays inside one segment.

Clients send `refs%2Fpr%2F1` as one path segment; ASGI servers decode it to `refs/pr/1` before routing.
This middleware rebuilds `path` from `raw_path` decoding everything except `%2F` and `%25`; route
parameters that may hold them are decoded once more with `segment()`.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

_KEEP_ENCODED = re.compile(r"(%2[fF]|%25)")


def decode_keeping_slashes(raw: str) -> str:
    pieces = _KEEP_ENCODED.split(raw)
    return "".join(piece.upper() if _KEEP_ENCODED.fullmatch(piece) else unquote(piece) for piece in pieces)


def segment(value: str) -> str:
    """A route parameter as the client meant it."""
    return unquote(value)


class RawPathMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path")
        if scope["type"] == "http" and raw:
            scope = dict(scope)
            scope["path"] = decode_keeping_slashes(raw.decode("latin-1").split("?", 1)[0])
        await self.app(scope, receive, send)
