"""The write path of the API: preupload, then the NDJSON commit."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from modelyard.api.raw_path import segment
from modelyard.api.routes_discussions import discussion_url
from modelyard.domain.commit_ops import parse_ndjson
from modelyard.domain.errors import BadRequest
from modelyard.frontdoor.access import repo_access
from modelyard.frontdoor.deps import base_url, get_actor, get_hub, json_body
from modelyard.frontdoor.streaming import read_limited
from modelyard.services import preupload, pull_requests
from modelyard.services.access import Action
from modelyard.services.files import snapshot
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor

router = APIRouter()


@router.post("/api/{repo_type}/{namespace}/{name}/preupload/{revision}")
def preupload_route(
    revision: str,
    create_pr: bool = False,
    body: dict[str, Any] = Depends(json_body),
    record: RepoRecord = Depends(repo_access(Action.CONTRIBUTE)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    # Who may write where (branches, a pull request's ref, a new pull request) is the service's decision.
    pull_requests.authorize_commit(hub, actor, record, segment(revision), create_pr)
    files = body.get("files")
    git_ignore = body.get("gitIgnore")
    if not isinstance(files, list) or (git_ignore is not None and not isinstance(git_ignore, str)):
        raise BadRequest("Expected {files: [{path, sample, size}], gitIgnore?: str}")
    planned = preupload.plan(snapshot(hub, record, segment(revision)), files, git_ignore)
    return {
        "files": [
            {"path": f.path, "uploadMode": f.upload_mode, "shouldIgnore": f.should_ignore, "oid": f.oid}
            for f in planned
        ],
        "commitOid": None,
    }


@router.post("/api/{repo_type}/{namespace}/{name}/commit/{revision}")
async def commit_route(
    request: Request,
    revision: str,
    create_pr: bool = False,
    record: RepoRecord = Depends(repo_access(Action.CONTRIBUTE)),  # branch or pull request: the service decides
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    revision = segment(revision)
    await run_in_threadpool(pull_requests.authorize_commit, hub, actor, record, revision, create_pr)
    ref = record.ref
    limit = hub.settings.max_commit_body_size
    body = await read_limited(
        request, limit, f"The commit body is larger than {limit} bytes: upload large files with LFS"
    )
    payload = await run_in_threadpool(parse_ndjson, body)
    result = await run_in_threadpool(pull_requests.commit, hub, actor, record, revision, payload, create_pr)
    answer: dict[str, Any] = {
        "success": True,
        "commitOid": result.commit_id,
        "commitUrl": f"{base_url(request)}/{ref.type.url_prefix}{ref.id}/commit/{result.commit_id}",
        "hookOutput": "",
    }
    if result.pull_request is not None:
        answer["pullRequestUrl"] = discussion_url(request, record, result.pull_request)
    return answer
