"""`X-Request-Id` on every response, and the same id on the request's access log line.

A user's error message (huggingface_hub appends "(Request ID: …)") can then be matched to the server log.
The id is the client's own when it sent one (`X-Request-Id`, else the `X-Amzn-Trace-Id` that
huggingface_hub puts on every request), else a fresh one. It lives in a context variable for the request's
task, so logging reads it through a filter and composes with any other filter on the same handlers.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_current: ContextVar[str] = ContextVar("modelyard_request_id", default="-")
# What we echo: short and plain (an AWS trace id has '=' and ';'), so it cannot forge log lines or headers.
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:;=/+-]{1,200}$")
CLIENT_HEADERS = ("x-request-id", "x-amzn-trace-id")


def current_request_id() -> str:
    """The id of the request being served ('-' outside of one)."""
    return _current.get()


def request_id_of(headers: Headers) -> str:
    for name in CLIENT_HEADERS:
        value = headers.get(name, "")
        if _ACCEPTABLE.match(value):
            return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(Headers(scope=scope))
        # Each request runs in its own task (and context), so the value never leaks into another request.
        _current.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-Id"] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


class RequestIdLogFilter(logging.Filter):
    """Gives every record a `request_id` attribute, for formats that name `%(request_id)s`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True
