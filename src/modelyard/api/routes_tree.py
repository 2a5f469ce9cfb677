"""Listings at a revision (tree, paths-info, commits, refs) and branch and tag management."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from modelyard.api.pagination import next_url, page
from modelyard.api.raw_path import segment
from modelyard.api.render import commit_json, entry_json
from modelyard.domain.errors import BadRequest
from modelyard.frontdoor.access import repo_access
from modelyard.frontdoor.deps import get_actor, get_hub, json_body
from modelyard.frontdoor.file_responses import with_xet_hashes
from modelyard.gitstore.repository import Entry
from modelyard.services import refs
from modelyard.services.access import Action
from modelyard.services.files import Snapshot, list_tree, paths_info, snapshot
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor, commit_authors

router = APIRouter()
# With expand=true each entry costs a history walk, so pages are smaller (as on the Hub).
EXPANDED_PAGE_SIZE = 50


def _entries_json(hub: Hub, snap: Snapshot, entries: list[Entry], expand: bool) -> list[dict[str, Any]]:
    body = [
        entry_json(entry, snap.git.last_commit_touching(snap.commit, entry.path) if expand else None)
        for entry in entries
    ]
    return with_xet_hashes(hub, snap.record.pk, body)


@router.get("/api/{repo_type}/{namespace}/{name}/tree/{revision}")
@router.get("/api/{repo_type}/{namespace}/{name}/tree/{revision}/{path:path}")
def tree(
    request: Request,
    revision: str,
    path: str = "",
    recursive: bool = False,
    expand: bool = False,
    record: RepoRecord = Depends(repo_access(Action.READ)),
    hub: Hub = Depends(get_hub),
) -> JSONResponse:
    snap = snapshot(hub, record, segment(revision))
    entries = list_tree(snap, segment(path), recursive)
    chunk, headers = page(request, entries, EXPANDED_PAGE_SIZE if expand else hub.settings.tree_page_size)
    return JSONResponse(_entries_json(hub, snap, list(chunk), expand), headers=headers)


@router.post("/api/{repo_type}/{namespace}/{name}/paths-info/{revision}")
async def paths_info_route(
    request: Request,
    revision: str,
    record: RepoRecord = Depends(repo_access(Action.READ)),
    hub: Hub = Depends(get_hub),
) -> JSONResponse:
    form = await request.form()
    paths = [str(value) for value in form.getlist("paths")]
    expand = str(form.get("expand", "false")).lower() == "true"

    def work() -> list[dict[str, Any]]:
        snap = snapshot(hub, record, segment(revision))
        return _entries_json(hub, snap, paths_info(snap, paths), expand)

    return JSONResponse(await run_in_threadpool(work))


@router.get("/api/{repo_type}/{namespace}/{name}/refs")
def list_refs(
    include_prs: bool = False,
    record: RepoRecord = Depends(repo_access(Action.READ)),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    listing = refs.list_refs(hub, record)

    def as_json(group: list[tuple[str, str, str]]) -> list[dict[str, str]]:
        return [{"name": n, "ref": r, "targetCommit": t} for n, r, t in group]

    data = {"branches": as_json(listing.branches), "converts": as_json(listing.converts), "tags": as_json(listing.tags)}
    if include_prs:
        data["pullRequests"] = as_json(listing.pull_requests)
    return data


@router.get("/api/{repo_type}/{namespace}/{name}/commits/{revision}")
def list_commits(
    request: Request,
    revision: str,
    p: int = Query(default=0, ge=0),
    limit: int | None = Query(default=None, ge=1),
    expand: list[str] = Query(default=[], alias="expand[]"),
    record: RepoRecord = Depends(repo_access(Action.READ)),
    hub: Hub = Depends(get_hub),
) -> JSONResponse:
    snap = snapshot(hub, record, segment(revision))
    size = min(limit or hub.settings.commits_page_size, hub.settings.commits_page_size)
    commits = snap.git.history(snap.commit, skip=p * size, limit=size + 1)
    headers = {}
    if len(commits) > size:
        headers["Link"] = f'<{next_url(request, p=str(p + 1))}>; rel="next"'
    formatted = "formatted" in expand
    commits = commits[:size]
    users = commit_authors(hub, {commit.author_email for commit in commits})
    # A commit whose email belongs to no user shows its git author name, as the Hub shows it.
    authored = [(commit, users.get(commit.author_email.lower(), commit.author)) for commit in commits]
    return JSONResponse([commit_json(commit, author, formatted) for commit, author in authored], headers=headers)


@router.post("/api/{repo_type}/{namespace}/{name}/branch/{branch}")
def create_branch(
    branch: str,
    body: dict[str, Any] = Depends(json_body),
    record: RepoRecord = Depends(repo_access(Action.WRITE)),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    starting_point = body.get("startingPoint")
    if starting_point is not None and not isinstance(starting_point, str):
        raise BadRequest("'startingPoint' must be a revision")
    refs.create_branch(hub, record, segment(branch), starting_point)
    return {}


@router.post("/api/{repo_type}/{namespace}/{name}/super-squash/{branch}")
def super_squash(
    branch: str,
    body: dict[str, Any] = Depends(json_body),
    record: RepoRecord = Depends(repo_access(Action.WRITE)),
    actor: Actor = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    message = body.get("message", f"Super-squash branch '{segment(branch)}'")
    if not isinstance(message, str):
        raise BadRequest("'message' must be a string")
    return {"commitId": refs.super_squash(hub, actor, record, segment(branch), message)}


@router.delete("/api/{repo_type}/{namespace}/{name}/branch/{branch}")
def delete_branch(
    branch: str, record: RepoRecord = Depends(repo_access(Action.WRITE)), hub: Hub = Depends(get_hub)
) -> dict[str, Any]:
    refs.delete_branch(hub, record, segment(branch))
    return {}


@router.post("/api/{repo_type}/{namespace}/{name}/tag/{revision}")
def create_tag(
    revision: str,
    body: dict[str, Any] = Depends(json_body),
    record: RepoRecord = Depends(repo_access(Action.WRITE)),
    actor: Actor = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    tag, message = body.get("tag"), body.get("message")
    if not isinstance(tag, str) or (message is not None and not isinstance(message, str)):
        raise BadRequest("'tag' is required and 'message' must be a string")
    refs.create_tag(hub, actor, record, segment(revision), tag, message)
    return {}


@router.delete("/api/{repo_type}/{namespace}/{name}/tag/{tag}")
def delete_tag(
    tag: str, record: RepoRecord = Depends(repo_access(Action.WRITE)), hub: Hub = Depends(get_hub)
) -> dict[str, Any]:
    refs.delete_tag(hub, record, segment(tag))
    return {}
