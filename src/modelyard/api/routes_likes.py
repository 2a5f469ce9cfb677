"""Likes (hub-api §13): what huggingface_hub 2.4 calls, and the like itself, which the client leaves to the web.

POST   /api/{type}s/{id}/like      like (a user who can see the repository, with a token that may act there)
DELETE /api/{type}s/{id}/like      unlike
GET    /api/{type}s/{id}/likers    list_repo_likers (paginated): [{user, fullname, avatarUrl}]
GET    /api/users/{user}/likes     list_liked_repos (paginated): [{createdAt, repo: {name, type}}], visible repos only
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from modelyard.api.pagination import page
from modelyard.domain.dates import iso_z
from modelyard.frontdoor.access import OpenAction, declared, repo_access
from modelyard.frontdoor.deps import get_actor, get_hub
from modelyard.services import likes
from modelyard.services.access import Action
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor

router = APIRouter()

PREFIX = "/api/{repo_type}/{namespace}/{name}"
PAGE_SIZE = 1000
# A like is the user's own act on a repository they can see, taken like a contribution: anonymous callers and
# read-only tokens may not (services/access.py, Action.CONTRIBUTE).
LIKING = Action.CONTRIBUTE


@router.post(f"{PREFIX}/like")
def like(
    record: RepoRecord = Depends(repo_access(LIKING)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    assert actor is not None  # Action.CONTRIBUTE is never granted without a token
    likes.like(hub, actor, record)
    return {}


@router.delete(f"{PREFIX}/like")
def unlike(
    record: RepoRecord = Depends(repo_access(LIKING)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    assert actor is not None
    likes.unlike(hub, actor, record)
    return {}


@router.get(f"{PREFIX}/likers")
def likers(
    request: Request, record: RepoRecord = Depends(repo_access(Action.READ)), hub: Hub = Depends(get_hub)
) -> JSONResponse:
    chunk, headers = page(request, likes.likers(hub, record), PAGE_SIZE)
    body = [{"user": liker.name, "fullname": liker.fullname, "avatarUrl": ""} for liker in chunk]
    return JSONResponse(body, headers=headers)


@router.get("/api/users/{user}/likes", dependencies=[Depends(declared(OpenAction.PUBLIC))])
def user_likes(
    request: Request, user: str, actor: Actor | None = Depends(get_actor), hub: Hub = Depends(get_hub)
) -> JSONResponse:
    chunk, headers = page(request, likes.user_likes(hub, actor, user), PAGE_SIZE)
    body = [
        {"createdAt": iso_z(item.liked_at), "repo": {"name": item.record.ref.id, "type": item.record.ref.type.value}}
        for item in chunk
    ]
    return JSONResponse(body, headers=headers)
