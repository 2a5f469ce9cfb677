"""The one place that maps errors to the Hub's HTTP contract: status, X-Error-Code, X-Error-Message, JSON."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from modelyard.api.request_id import current_request_id
from modelyard.domain.errors import EntryNotFound, Forbidden, HubError, RangeNotSatisfiable, RepoMoved, RepoNotFound

log = logging.getLogger("modelyard")


def header_safe(message: str) -> str:
    return message.replace("\r", " ").replace("\n", " ").encode("latin-1", "replace").decode("latin-1")[:1000]


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

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> Response:
        return error_response(error.status_code, str(error.detail), extra=dict(error.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        request_id = current_request_id()
        log.exception("Unhandled error on %s %s [%s]", request.method, request.url.path, request_id)
        # Answered outside every middleware (Starlette's ServerErrorMiddleware), so the id is added here.
        return error_response(500, "Internal server error", extra={"X-Request-Id": request_id})
