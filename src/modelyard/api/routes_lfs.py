"""Git-LFS: the batch API (huggingface_hub without Xet, and git-lfs) and its transfer URLs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from modelyard.domain.lfs_pointer import LFS_JSON
from modelyard.domain.repo_ids import RepoType
from modelyard.frontdoor.access import OpenAction, declared, repo_access
from modelyard.frontdoor.deps import base_url, get_actor, get_hub, json_body
from modelyard.frontdoor.file_responses import object_response
from modelyard.frontdoor.streaming import receive_into
from modelyard.services import lfs
from modelyard.services.access import Action
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor

router = APIRouter()


def _batch_endpoint(repo_type: RepoType):  # type: ignore[no-untyped-def]
    # Read access to enter; uploads are contributing (Action.CONTRIBUTE), which the service checks per operation.
    def batch(
        request: Request,
        body: dict[str, Any] = Depends(json_body),
        record: RepoRecord = Depends(repo_access(Action.READ, repo_type)),
        actor: Actor | None = Depends(get_actor),
        hub: Hub = Depends(get_hub),
    ) -> Response:
        origin = base_url(request)
        answer = lfs.batch(hub, actor, record, body, lambda path: origin + path)
        return JSONResponse(answer, media_type=LFS_JSON)

    return batch


def _verify_endpoint(repo_type: RepoType):  # type: ignore[no-untyped-def]
    def verify(
        body: dict[str, Any] = Depends(json_body),
        record: RepoRecord = Depends(repo_access(Action.CONTRIBUTE, repo_type)),  # the last step of an upload
        hub: Hub = Depends(get_hub),
    ) -> Response:
        lfs.verify(hub, record, body)
        return JSONResponse({}, media_type=LFS_JSON)

    return verify


for _type in sorted(RepoType, key=lambda t: t is RepoType.MODEL):
    _base = f"/{_type.url_prefix}{{namespace}}/{{name}}.git/info/lfs/objects"
    router.add_api_route(f"{_base}/batch", _batch_endpoint(_type), methods=["POST"], name=f"lfs_batch_{_type}")
    router.add_api_route(f"{_base}/verify", _verify_endpoint(_type), methods=["POST"], name=f"lfs_verify_{_type}")


def _ticket(
    hub: Hub,
    purpose: str,
    repo_pk: int,
    oid: str,
    size: int,
    part: int,
    tid: int,
    exp: int,
    sig: str,
    part_size: int = 0,
) -> lfs.Ticket:
    return lfs.check_ticket(hub, lfs.Ticket(purpose, repo_pk, oid, size, part, part_size, tid), exp, sig)


@router.put("/api/lfs/{repo_pk}/{oid}", dependencies=[Depends(declared(OpenAction.SIGNED_URL))])
async def upload(
    request: Request,
    repo_pk: int,
    oid: str,
    size: int,
    exp: int,
    sig: str,
    tid: int = 0,
    hub: Hub = Depends(get_hub),
) -> Response:
    ticket = await run_in_threadpool(_ticket, hub, "upload", repo_pk, oid, size, 0, tid, exp, sig)
    writer = await run_in_threadpool(lfs.object_writer, hub, ticket)
    await receive_into(request, writer)
    await run_in_threadpool(lfs.store_object, hub, ticket, writer)
    return Response(status_code=200)


@router.put("/api/lfs/{repo_pk}/{oid}/part/{part}", dependencies=[Depends(declared(OpenAction.SIGNED_URL))])
async def upload_part(
    request: Request,
    repo_pk: int,
    oid: str,
    part: int,
    size: int,
    exp: int,
    sig: str,
    part_size: int = 0,
    tid: int = 0,
    hub: Hub = Depends(get_hub),
) -> Response:
    ticket = await run_in_threadpool(lfs.part_ticket, hub, repo_pk, oid, size, part, part_size, tid, exp, sig)
    writer = await run_in_threadpool(lfs.part_writer, hub, ticket)
    await receive_into(request, writer)
    etag = await run_in_threadpool(writer.finish)
    return Response(status_code=200, headers={"ETag": f'"{etag}"'})


@router.post("/api/lfs/{repo_pk}/{oid}/complete", dependencies=[Depends(declared(OpenAction.SIGNED_URL))])
def complete(
    repo_pk: int,
    oid: str,
    size: int,
    exp: int,
    sig: str,
    part_size: int = 0,
    tid: int = 0,
    body: dict[str, Any] = Depends(json_body),
    hub: Hub = Depends(get_hub),
) -> Response:
    lfs.complete_multipart(hub, _ticket(hub, "upload", repo_pk, oid, size, -1, tid, exp, sig, part_size), body)
    return JSONResponse({}, media_type=LFS_JSON)


@router.get("/api/lfs/{repo_pk}/{oid}", dependencies=[Depends(declared(OpenAction.SIGNED_URL))])
def download(
    request: Request, repo_pk: int, oid: str, size: int, exp: int, sig: str, tid: int = 0, hub: Hub = Depends(get_hub)
) -> Response:
    content = lfs.downloadable(hub, _ticket(hub, "download", repo_pk, oid, size, 0, tid, exp, sig))
    return object_response(request, hub, repo_pk, oid, content, {})  # the blob, or the Xet file's copy or rebuild
