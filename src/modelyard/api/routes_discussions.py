"""Discussions and pull requests, as huggingface_hub 2.4 calls them (hub-api.md §10).

Opening, commenting and the thread author's own changes are contributions: anyone who can read the repository,
with a token that may act (services/access.py, Action.CONTRIBUTE); the services check the authorship. Merging
needs write access.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from modelyard.domain.dates import iso_z
from modelyard.domain.errors import BadRequest
from modelyard.domain.numbers import parse_natural
from modelyard.frontdoor.access import repo_access
from modelyard.frontdoor.deps import base_url, get_actor, get_hub, json_body
from modelyard.services import discussions, pull_requests, repos
from modelyard.services.access import Action
from modelyard.services.discussions import DiscussionView, EventView
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor

router = APIRouter()

PREFIX = "/api/{repo_type}/{namespace}/{name}/discussions"
MAX_NUMBER = 2**31 - 1  # the database's INTEGER
MAX_PAGE = 10**7


async def optional_json_body(request: Request) -> dict[str, Any]:
    """`merge` and `hide` may come without any body at all."""
    if not await request.body():
        return {}
    return await json_body(request)


@router.get(PREFIX)
def list_discussions(
    p: str = "0",
    type: str | None = None,
    status: str | None = None,
    author: str | None = None,
    record: RepoRecord = Depends(repo_access(Action.READ)),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    page = parse_natural(p)
    if page is None or page > MAX_PAGE:
        raise BadRequest(f"p must be a page index from 0 to {MAX_PAGE}")
    views, total, start = discussions.list_discussions(hub, record, page, type, status, author)
    return {"discussions": [_discussion(record, view) for view in views], "count": total, "start": start}


@router.post(PREFIX)
def create(
    body: dict[str, Any] = Depends(json_body),
    record: RepoRecord = Depends(repo_access(Action.CONTRIBUTE)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    pull_request = body.get("pullRequest", False)
    if not isinstance(pull_request, bool):
        raise BadRequest("pullRequest must be true or false")
    if pull_request:
        num = pull_requests.create(hub, actor, record, body.get("title"), body.get("description"))
    else:
        num = discussions.create_discussion(hub, actor, record, body.get("title"), body.get("description"))
    return {"num": num}


@router.get(PREFIX + "/{num}")
def details(
    num: str,
    diff: str | None = None,
    record: RepoRecord = Depends(repo_access(Action.READ)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    with_diff = diff not in (None, "0", "")
    if with_diff:  # a diff shows file contents: behind a gated repo's gate
        repos.authorize_on(hub, actor, record, Action.DOWNLOAD)
    view = discussions.details(hub, record, _number(num))
    body = _discussion(record, view)
    body["events"] = [_event(event) for event in view.events]
    if view.is_pull_request:
        base = view.target_branch or "main"
        body["changes"] = {"base": base}
        if view.merge_commit:
            body["changes"]["mergeCommitId"] = view.merge_commit
        if view.status in ("open", "draft"):
            changes = pull_requests.changes(hub, record, view.num, base, with_diff=with_diff)
            body["filesWithConflicts"] = changes.files_with_conflicts
            if changes.diff:
                body["diff"] = changes.diff
        else:
            body["filesWithConflicts"] = []
    return body


@router.post(PREFIX + "/{num}/comment")
def comment(
    num: str,
    body: dict[str, Any] = Depends(json_body),
    record: RepoRecord = Depends(repo_access(Action.CONTRIBUTE)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    event = discussions.comment(hub, actor, record, _number(num), body.get("comment"))
    return {"newMessage": _event(event)}


@router.post(PREFIX + "/{num}/title")
def rename(
    num: str,
    body: dict[str, Any] = Depends(json_body),
    record: RepoRecord = Depends(repo_access(Action.CONTRIBUTE)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    event = discussions.rename(hub, actor, record, _number(num), body.get("title"))
    return {"newTitle": _event(event)}


@router.post(PREFIX + "/{num}/status")
def change_status(
    num: str,
    body: dict[str, Any] = Depends(json_body),
    record: RepoRecord = Depends(repo_access(Action.CONTRIBUTE)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    event = discussions.change_status(hub, actor, record, _number(num), body.get("status"), body.get("comment"))
    return {"newStatus": _event(event)}


@router.post(PREFIX + "/{num}/merge")
def merge(
    num: str,
    body: dict[str, Any] = Depends(optional_json_body),
    record: RepoRecord = Depends(repo_access(Action.WRITE)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    merged = pull_requests.merge(hub, actor, record, _number(num), body.get("comment"))
    return {"mergeCommitId": merged}


@router.post(PREFIX + "/{num}/comment/{comment_id}/edit")
def edit_comment(
    num: str,
    comment_id: str,
    body: dict[str, Any] = Depends(json_body),
    record: RepoRecord = Depends(repo_access(Action.CONTRIBUTE)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    event = discussions.edit_comment(hub, actor, record, _number(num), comment_id, body.get("content"))
    return {"updatedComment": _event(event)}


@router.post(PREFIX + "/{num}/comment/{comment_id}/hide")
def hide_comment(
    num: str,
    comment_id: str,
    record: RepoRecord = Depends(repo_access(Action.CONTRIBUTE)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    event = discussions.hide_comment(hub, actor, record, _number(num), comment_id)
    return {"updatedComment": _event(event)}


def _number(num: str) -> int:
    value = parse_natural(num)
    if value is None or not 1 <= value <= MAX_NUMBER:
        raise BadRequest(f"Invalid discussion number {num!r}: expected 1 to {MAX_NUMBER}")
    return value


def discussion_url(request: Request, record: RepoRecord, num: int) -> str:
    return f"{base_url(request)}/{record.ref.type.url_prefix}{record.ref.id}/discussions/{num}"


def _discussion(record: RepoRecord, view: DiscussionView) -> dict[str, Any]:
    body: dict[str, Any] = {
        "num": view.num,
        "title": view.title,
        "status": view.status,
        "isPullRequest": view.is_pull_request,
        "createdAt": iso_z(view.created_at),
        "repo": {"name": record.ref.id, "type": record.ref.type.value},
    }
    if view.author is not None:
        body["author"] = {"name": view.author}
    return body


def _event(event: EventView) -> dict[str, Any]:
    data = dict(event.data)
    latest = data.get("latest")
    if isinstance(latest, dict) and latest.get("updatedAt") is not None:
        data["latest"] = {**latest, "updatedAt": iso_z(latest["updatedAt"])}
    body: dict[str, Any] = {"id": event.id, "type": event.type, "createdAt": iso_z(event.created_at), "data": data}
    if event.author is not None:
        body["author"] = {"name": event.author}
    return body
