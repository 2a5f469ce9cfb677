"""Hub routes of Xet: CAS token exchange (hub-api §9.1) and storage accounting."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from modelyard.frontdoor.access import authenticated_actor, repo_access
from modelyard.frontdoor.deps import get_actor, get_hub
from modelyard.services import grants, xet_stats, xet_tokens
from modelyard.services.access import Action
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor
from modelyard.xet.cas import cas_url

router = APIRouter()


def _token_response(request: Request, hub: Hub, record: RepoRecord, actor: Actor | None, scope: str) -> JSONResponse:
    token, expires = xet_tokens.issue_token(hub, record.pk, scope, grants.issuer_of(actor))
    base = cas_url(request)
    # hf_xet reads the JSON body, huggingface_hub's download path the headers: send both.
    headers = {"X-Xet-Cas-Url": base, "X-Xet-Access-Token": token, "X-Xet-Token-Expiration": str(expires)}
    return JSONResponse({"accessToken": token, "exp": expires, "casUrl": base}, headers=headers)


@router.get("/api/{repo_type}/{namespace}/{name}/xet-read-token/{revision}")
async def xet_read_token(
    request: Request,
    record: RepoRecord = Depends(repo_access(Action.DOWNLOAD)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> JSONResponse:
    return await run_in_threadpool(_token_response, request, hub, record, actor, xet_tokens.READ)


@router.get("/api/{repo_type}/{namespace}/{name}/xet-write-token/{revision}")
async def xet_write_token(
    request: Request,
    record: RepoRecord = Depends(repo_access(Action.CONTRIBUTE)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> JSONResponse:
    # Uploading is contributing (as on the Hub, whatever the revision or create_pr=1): xorbs are content-addressed
    # and checked, a shard's sha256 claims are hashed before a commit uses them, and the bytes reach a branch only
    # through a commit, which the commit path authorizes. The grant is re-checked at every use (services.grants).
    return await run_in_threadpool(_token_response, request, hub, record, actor, xet_tokens.WRITE)


@router.get("/api/storage")
async def total_storage(actor: Actor = Depends(authenticated_actor), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """Storage of the whole hub: any authenticated user may see these totals (no per-repo detail)."""
    stats = await run_in_threadpool(xet_stats.total_storage, hub)
    return stats.to_json()


@router.get("/api/{repo_type}/{namespace}/{name}/storage")
async def repo_storage(
    record: RepoRecord = Depends(repo_access(Action.READ)), hub: Hub = Depends(get_hub)
) -> dict[str, Any]:
    stats = await run_in_threadpool(xet_stats.repo_storage, hub, record.pk)
    return stats.to_json()
