"""The one place that maps errors to the Hub's HTTP contract: status, X-Error-Code, X-Error-Message, JSON."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, RedirectResponse, Response

from modelyard.domain.errors import (
    EntryNotFound,
    Forbidden,
    HubError,
    RangeNotSatisfiable,
    RepoMoved,
    RepoNotFound,
    RepositoryBusy,
    TooManyRequests,
)
from modelyard.frontdoor.request_id import current_request_id

log = logging.getLogger("modelyard")


# Control characters other than tab are invalid in a header value: the server would drop the connection.
_NOT_IN_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def header_safe(message: str) -> str:
    """A message that may quote the client's input (a revision, a path), fit for a header value."""
    return _NOT_IN_HEADER.sub(" ", message).encode("latin-1", "replace").decode("latin-1")[:1000].strip()


def error_response(
    status: int,
    message: str,
    code: str | None = None,
    extra: dict[str, str] | None = None,
    body: dict[str, object] | None = None,
) -> Response:
    headers = {"X-Error-Message": header_safe(message)}
    if code:
        headers["X-Error-Code"] = code
    headers.update(extra or {})
    return JSONResponse({"error": message, **(body or {})}, status_code=status, headers=headers)


def hub_error_response(request: Request, error: HubError) -> Response:
    if isinstance(error, RepoMoved):
        path = request.url.path.replace(error.old_id, error.new_id, 1)
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(path + query, status_code=307)
    extra: dict[str, str] = {}
    status = error.status
    if isinstance(error, EntryNotFound) and error.commit:
        extra["X-Repo-Commit"] = error.commit
    if isinstance(error, RangeNotSatisfiable):
        extra["Content-Range"] = f"bytes */{error.size}"
    if isinstance(error, RepositoryBusy):
        extra["Retry-After"] = "1"
    if isinstance(error, TooManyRequests):
        extra["Retry-After"] = str(error.retry_after)
    if isinstance(error, RepoNotFound) and "authorization" not in request.headers:
        status = 401  # anonymous: the Hub answers 401 so the client suggests logging in
    if isinstance(error, Forbidden) and "authorization" not in request.headers:
        status = 401  # no credentials at all: 401 asks for them (git-lfs sends them only after a 401)
    return error_response(status, error.message, error.code, extra, error.details)


def install(app: FastAPI) -> None:
    @app.exception_handler(HubError)
    async def _hub_error(request: Request, error: HubError) -> Response:
        return hub_error_response(request, error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        details = "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', ()))}: {item.get('msg')}" for item in error.errors()
        )
        return error_response(400, f"Invalid request: {details}")

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, error: ClientDisconnect) -> Response:
        # The client hung up (or was cut off as idle) before sending its whole body: nothing to fix on our side.
        log.info("Client disconnected before the end of the request body: %s %s", request.method, request.url.path)
        return error_response(400, "The client closed the connection before the request body was complete")

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> Response:
        return error_response(error.status_code, str(error.detail), extra=dict(error.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        # Starlette re-raises the error after this answer and uvicorn logs its traceback: one traceback is enough.
        request_id = current_request_id()
        log.error("Unhandled error on %s %s [%s]: %r", request.method, request.url.path, request_id, error)
        # Answered outside every middleware (Starlette's ServerErrorMiddleware), so the id is added here.
        return error_response(500, "Internal server error", extra={"X-Request-Id": request_id})
