"""Access requests to gated repositories: the user's request, and what huggingface_hub 2.4 calls to manage them.

POST /api/{type}s/{id}/ask-access                     the card's form (JSON or form-encoded): who may contribute
GET  /api/{type}s/{id}/user-access-request/{status}   list_{pending,accepted,rejected}_access_requests (admins)
POST /api/{type}s/{id}/user-access-request/handle     accept / reject / cancel_access_request: {user|requestId, status}
POST /api/{type}s/{id}/user-access-request/grant      grant_access: {user}
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from modelyard.api.pagination import page
from modelyard.domain.dates import iso_z
from modelyard.frontdoor.access import repo_access
from modelyard.frontdoor.deps import MAX_JSON_BODY_SIZE, get_actor, get_hub, json_body
from modelyard.frontdoor.streaming import read_limited
from modelyard.services import access_requests
from modelyard.services.access import Action
from modelyard.services.access_requests import RequestView
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor

router = APIRouter()

PREFIX = "/api/{repo_type}/{namespace}/{name}"
PAGE_SIZE = 1000
FORM = "application/x-www-form-urlencoded"


async def answers_body(request: Request) -> dict[str, Any]:
    """The access form as a web page posts it (form-encoded), or as a JSON object."""
    if not request.headers.get("content-type", "").startswith(FORM):
        return await json_body(request)
    data = await read_limited(request, MAX_JSON_BODY_SIZE, f"The form is larger than {MAX_JSON_BODY_SIZE} bytes")
    return dict(parse_qsl(data.decode("utf-8", errors="replace"), keep_blank_values=True))


def request_json(view: RequestView) -> dict[str, Any]:
    user = {"user": view.user, "fullname": view.fullname, "email": view.email or None, "type": "user"}
    return {
        "user": user,
        "requestId": view.request_id,
        "status": view.status,
        "timestamp": iso_z(view.timestamp),
        "fields": view.fields,
    }


@router.post(f"{PREFIX}/ask-access")
def ask_access(
    answers: dict[str, Any] = Depends(answers_body),
    record: RepoRecord = Depends(repo_access(Action.CONTRIBUTE)),  # records a request: a read token may not
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    return request_json(access_requests.ask(hub, actor, record, answers))


@router.get(f"{PREFIX}/user-access-request/{{status}}")
def list_requests(
    request: Request,
    status: str,
    record: RepoRecord = Depends(repo_access(Action.ADMIN)),
    hub: Hub = Depends(get_hub),
) -> JSONResponse:
    views = access_requests.list_requests(hub, record, access_requests.parse_status(status))
    chunk, headers = page(request, views, PAGE_SIZE)
    return JSONResponse([request_json(view) for view in chunk], headers=headers)


@router.post(f"{PREFIX}/user-access-request/handle")
def handle_request(
    body: dict[str, Any] = Depends(json_body),
    record: RepoRecord = Depends(repo_access(Action.ADMIN)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    status = access_requests.parse_status(body.get("status"))
    access_requests.handle(
        hub, actor, record, body.get("user"), body.get("requestId"), status, body.get("rejectionReason")
    )
    return {}


@router.post(f"{PREFIX}/user-access-request/grant")
def grant_access(
    body: dict[str, Any] = Depends(json_body),
    record: RepoRecord = Depends(repo_access(Action.ADMIN)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    return request_json(access_requests.grant(hub, actor, record, body.get("user")))
