"""What routes need from a request: the hub, the actor, a JSON body, absolute URLs, repo references."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from modelyard.domain import json_input
from modelyard.domain.errors import BadRequest
from modelyard.domain.repo_ids import RepoRef, RepoType
from modelyard.frontdoor.streaming import read_limited
from modelyard.services import tokens
from modelyard.services.hub import Hub
from modelyard.services.throttle import Client
from modelyard.services.users import Actor

# JSON bodies (repo settings, LFS batches, preupload lists, YAML to validate) are small; this bounds the memory
# and parsing time one request can take.
MAX_JSON_BODY_SIZE = 16 * 1024 * 1024


def get_hub(request: Request) -> Hub:
    return request.app.state.hub


def bearer_token(request: Request) -> str | None:
    """The token of a request: `Bearer <token>`, or the password of HTTP Basic (what git sends)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(value).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password or None
    return None


async def json_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object: at most MAX_JSON_BODY_SIZE bytes (413), parsed in a worker thread."""
    data = await read_limited(
        request, MAX_JSON_BODY_SIZE, f"The request body is larger than {MAX_JSON_BODY_SIZE} bytes, the limit for JSON"
    )
    body = await run_in_threadpool(json_input.loads, data, "The request body")
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    return body


def client_of(request: Request) -> Client:
    """Who failed authentications are counted against: the peer address (uvicorn puts the X-Forwarded-For of a
    trusted proxy there, see docs/deployment.md)."""
    return Client(request.client.host if request.client else "unknown")


async def get_actor(request: Request) -> Actor | None:
    token = bearer_token(request)
    if token is None:
        return None
    return await run_in_threadpool(tokens.authenticate, get_hub(request), token, client_of(request))


def base_url(request: Request) -> str:
    """The origin clients reach us at: the configured public URL, or the request's own host."""
    configured = get_hub(request).settings.public_url
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/")


def repo_ref(repo_type: str | RepoType, namespace: str, name: str) -> RepoRef:
    kind = repo_type if isinstance(repo_type, RepoType) else RepoType.from_plural(repo_type)
    return RepoRef.parse(kind, f"{namespace}/{name}")


def repo_url(request: Request, ref: RepoRef) -> str:
    return f"{base_url(request)}/{ref.type.url_prefix}{ref.id}"
