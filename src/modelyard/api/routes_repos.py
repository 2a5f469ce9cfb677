"""Repository management and information."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import JSONResponse, Response

from modelyard.api.item_fields import listing_field_request
from modelyard.api.pagination import next_link, page
from modelyard.api.raw_path import segment
from modelyard.api.render import NO_SCANS, info_json, lfs_file_json, listing_json, owned_repo_json
from modelyard.domain.errors import BadRequest, Conflict
from modelyard.domain.listing import ListingQuery
from modelyard.domain.repo_fields import info_fields
from modelyard.domain.repo_ids import RepoRef, RepoType
from modelyard.domain.revisions import DEFAULT_BRANCH
from modelyard.frontdoor.access import OpenAction, authenticated_actor, declared, repo_access
from modelyard.frontdoor.deps import get_actor, get_hub, json_body, repo_url
from modelyard.services import discussions, lfs_copies, lfs_files, repo_facts, repo_search, repos
from modelyard.services.access import Action
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor

router = APIRouter()


def _owned_ref(body: dict[str, Any], actor: Actor | None) -> RepoRef:
    name = body.get("name")
    if not isinstance(name, str):
        raise BadRequest("'name' is required")
    namespace = body.get("organization") or (actor.name if actor else None)
    if "/" in name:
        namespace, name = name.split("/", 1)
    if not isinstance(namespace, str):
        raise BadRequest("'organization' is required when no token is given")
    return RepoRef.parse(RepoType.parse(body.get("type")), f"{namespace}/{name}")


@router.post("/api/repos/create", dependencies=[Depends(declared(OpenAction.REPO_BY_BODY))])
def create(
    request: Request,
    body: dict[str, Any] = Depends(json_body),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> Response:
    ref = _owned_ref(body, actor)
    private = repos.parse_visibility(body.get("visibility"), body.get("private"))
    try:
        # private: validated True, False or None (public)
        record = repos.create_repo(hub, actor, ref, private is True, body.get("sdk"))
    except Conflict as conflict:
        # With exist_ok the client swallows the 409 and still reads the repo URL from the body.
        existing = RepoRef.parse(ref.type, str(conflict.details.get("name", ref.id)))
        conflict.details["url"] = repo_url(request, existing)
        raise
    return JSONResponse({"url": repo_url(request, record.ref), "name": record.ref.id, "id": str(record.pk)})


@router.delete("/api/repos/delete", dependencies=[Depends(declared(OpenAction.REPO_BY_BODY))])
def delete(
    body: dict[str, Any] = Depends(json_body),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    repos.delete_repo(hub, actor, _owned_ref(body, actor))
    return {}


@router.post("/api/repos/move", dependencies=[Depends(declared(OpenAction.REPO_BY_BODY))])
def move(
    request: Request,
    body: dict[str, Any] = Depends(json_body),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    repo_type = RepoType.parse(body.get("type"))
    source, target = body.get("fromRepo"), body.get("toRepo")
    if not isinstance(source, str) or not isinstance(target, str):
        raise BadRequest("'fromRepo' and 'toRepo' are required, as 'namespace/name'")
    moved = repos.move_repo(hub, actor, RepoRef.parse(repo_type, source), RepoRef.parse(repo_type, target))
    return {"url": repo_url(request, moved.ref)}


@router.put("/api/{repo_type}/{namespace}/{name}/settings")
def settings(
    body: dict[str, Any] = Depends(json_body),
    record: RepoRecord = Depends(repo_access(Action.ADMIN)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    private = repos.parse_visibility(body.get("visibility"), body.get("private"))
    discussions_disabled = body.get("discussionsDisabled")
    if discussions_disabled is not None and not isinstance(discussions_disabled, bool):
        raise BadRequest("discussionsDisabled must be true or false")
    updated = repos.update_settings(hub, record, private, body.get("gated"), actor)
    if discussions_disabled is not None:
        discussions.set_disabled(hub, record, discussions_disabled)
    return {
        "private": updated.private,
        "gated": updated.gated or False,
        "discussionsDisabled": discussions.is_disabled(hub, record),
    }


@router.get("/api/settings/repositories")
def list_owned(
    request: Request, actor: Actor = Depends(authenticated_actor), hub: Hub = Depends(get_hub)
) -> JSONResponse:
    """`list_user_repos` / `hf repos ls`: the caller's repositories of every type, with their storage."""
    return _owned(request, hub, actor, None)


@router.get("/api/organizations/{namespace}/settings/repositories")
def list_owned_by(
    request: Request, namespace: str, actor: Actor = Depends(authenticated_actor), hub: Hub = Depends(get_hub)
) -> JSONResponse:
    """The same, for a namespace the caller may write to."""
    return _owned(request, hub, actor, namespace)


def _owned(request: Request, hub: Hub, actor: Actor, namespace: str | None) -> JSONResponse:
    owned = repos.list_owned(hub, actor, namespace)
    chunk, headers = page(request, owned, 1000)
    return JSONResponse(owned_repo_json(chunk, sum(size for _, size in owned)), headers=headers)


@router.get("/api/{repo_type}", dependencies=[Depends(declared(OpenAction.PUBLIC))])
def list_repos(
    request: Request, repo_type: str, actor: Actor | None = Depends(get_actor), hub: Hub = Depends(get_hub)
) -> JSONResponse:
    """`list_models`, `list_datasets`, `list_spaces`: parameters in domain/listing.py, fields in repo_fields.py."""
    kind = RepoType.from_plural(repo_type)
    fields = listing_field_request(request, kind)
    query = ListingQuery.parse(kind, request.query_params, fields.reads_files)
    found = repo_search.list_repos(hub, actor, query)
    headers = next_link(request, found.next_cursor)
    return JSONResponse(listing_json(repo_facts.page(hub, found.records, fields), fields), headers=headers)


@router.get("/api/{repo_type}/{namespace}/{name}")
def info(
    blobs: bool = False,
    securityStatus: bool = False,  # the Hub's name
    expand: list[str] = Query(default=[]),
    record: RepoRecord = Depends(repo_access(Action.READ)),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    return _info(hub, record, DEFAULT_BRANCH, blobs, securityStatus, expand)


@router.get("/api/{repo_type}/{namespace}/{name}/revision/{revision:path}")
def info_at_revision(
    revision: str,
    blobs: bool = False,
    securityStatus: bool = False,  # the Hub's name
    expand: list[str] = Query(default=[]),
    record: RepoRecord = Depends(repo_access(Action.READ)),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    return _info(hub, record, segment(revision), blobs, securityStatus, expand)


def _info(
    hub: Hub, record: RepoRecord, revision: str, blobs: bool, security: bool, expand: list[str]
) -> dict[str, Any]:
    fields = info_fields(record.ref.type, expand)
    data = info_json(repo_facts.info(hub, record, revision, fields, with_blobs=blobs), fields)
    if security:
        data["securityRepoStatus"] = dict(NO_SCANS)
    return data


@router.get("/api/{repo_type}/{namespace}/{name}/auth-check")
def auth_check(record: RepoRecord = Depends(repo_access(Action.READ))) -> dict[str, Any]:
    return {}


@router.get("/api/{repo_type}/{namespace}/{name}/auth-check/write")
def auth_check_write(record: RepoRecord = Depends(repo_access(Action.WRITE))) -> dict[str, Any]:
    return {}


@router.get("/api/{repo_type}/{namespace}/{name}/lfs-files")
def list_lfs_files(
    request: Request, record: RepoRecord = Depends(repo_access(Action.WRITE)), hub: Hub = Depends(get_hub)
) -> JSONResponse:
    chunk, headers = page(request, lfs_files.list_lfs_files(hub, record), 1000)
    return JSONResponse([lfs_file_json(item) for item in chunk], headers=headers)


@router.post("/api/{repo_type}/{namespace}/{name}/lfs-files/batch")
def delete_lfs_files(
    body: dict[str, Any] = Depends(json_body),
    record: RepoRecord = Depends(repo_access(Action.WRITE)),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    deletions = body.get("deletions")
    shas = deletions.get("sha") if isinstance(deletions, dict) else None
    if not isinstance(shas, list) or not all(isinstance(sha, str) for sha in shas):
        raise BadRequest("'deletions.sha' must be a list of LFS file ids")
    lfs_files.permanently_delete(hub, record, shas)
    return {}


@router.post("/api/{repo_type}/{namespace}/{name}/lfs-files/duplicate")
def duplicate_lfs_files(
    body: dict[str, Any] = Depends(json_body),
    source: RepoRecord = Depends(repo_access(Action.DOWNLOAD)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    """Cross-repo copies: the source (this repo, whose files the caller may download) lends objects to `target`."""
    target, files = body.get("target"), body.get("files")
    if not isinstance(target, dict) or not isinstance(target.get("name"), str) or not isinstance(files, list):
        raise BadRequest("Expected {target: {type, name}, files: [{sha256, xetHash}]}")
    requests = []
    for item in files:
        if not isinstance(item, dict) or not isinstance(item.get("sha256"), str):
            raise BadRequest("Each file needs a 'sha256'")
        requests.append(lfs_copies.CopyRequest(item["sha256"], str(item.get("xetHash") or "")))
    target_ref = RepoRef.parse(RepoType.parse(target.get("type")), target["name"])
    return {"failed": lfs_copies.duplicate(hub, actor, source, target_ref, requests)}
