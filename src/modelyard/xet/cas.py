"""The CAS API hf_xet 1.8 calls (xet.md §5), under CAS_PREFIX. Every call carries a CAS token.

Routes are thin: parse, call `services.xet`, render. Optional protocol features answer 404, which
makes hf_xet fall back: upload grants (-> POST /v1/xorbs), NDJSON shards (-> POST /v1/shards), V2
reconstructions (-> V1). Reconstruction fetch URLs point back here and are HMAC-signed, because
hf_xet fetches them without any Authorization header.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NoReturn
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response, StreamingResponse

from modelyard.domain.errors import BadRequest, NotFound, TooLarge, UrlRefused
from modelyard.domain.ranges import parse_closed_range
from modelyard.domain.xet.hashes import MerkleHash
from modelyard.domain.xet.shard import MAX_SHARD_BYTES
from modelyard.frontdoor.access import OpenAction, declared
from modelyard.frontdoor.deps import base_url, bearer_token, get_hub
from modelyard.frontdoor.streaming import receive_into, refuse_longer_than
from modelyard.services import xet, xet_tokens, xet_uploads
from modelyard.services.hub import Hub
from modelyard.xet import CAS_PREFIX

router = APIRouter()


def cas_grant(scope: str) -> Callable[..., Awaitable[xet_tokens.CasGrant]]:
    """Dependency: the grant of the request's CAS token, which must allow `scope`."""

    async def load(request: Request, hub: Hub = Depends(get_hub)) -> xet_tokens.CasGrant:
        return await run_in_threadpool(xet_tokens.check_token, hub, bearer_token(request), scope)

    load.declared_action = f"xet-cas-token:{scope}"  # type: ignore[attr-defined]
    return load


def cas_url(request: Request) -> str:
    """The CAS base URL on the host the client used (what the token routes hand out as casUrl)."""
    return base_url(request) + CAS_PREFIX


def _not_implemented(what: str, fallback: str) -> NoReturn:
    raise NotFound(f"{what} is not implemented by this server: use {fallback}")


# --- global dedup ------------------------------------------------------------------------------------------


@router.get(CAS_PREFIX + "/v1/chunks/{prefix}/{chunk_hash}")
async def query_chunk(
    chunk_hash: str, grant: xet_tokens.CasGrant = Depends(cas_grant(xet_tokens.READ)), hub: Hub = Depends(get_hub)
) -> Response:
    answer = await run_in_threadpool(xet_uploads.dedup_answer, hub, grant, chunk_hash)
    if answer is None:
        raise NotFound(f"Chunk {chunk_hash} is not known")
    return Response(answer, media_type="application/octet-stream")


# --- uploads -----------------------------------------------------------------------------------------------


@router.post(CAS_PREFIX + "/v1/xorb-grants/{prefix}/{xorb_hash}", dependencies=[Depends(cas_grant(xet_tokens.WRITE))])
async def xorb_grant() -> Response:
    return _not_implemented("Xorb upload grants", "POST /v1/xorbs")


@router.post(CAS_PREFIX + "/v1/xorbs/{prefix}/{xorb_hash}")
async def upload_xorb(
    request: Request,
    xorb_hash: str,
    grant: xet_tokens.CasGrant = Depends(cas_grant(xet_tokens.WRITE)),
    hub: Hub = Depends(get_hub),
) -> Response:
    MerkleHash.from_hex(xorb_hash)  # a malformed hash is refused before the body is read
    upload = xet_uploads.new_xorb_upload(hub)
    await receive_into(request, upload)
    inserted = await run_in_threadpool(xet_uploads.store_xorb, hub, grant, xorb_hash, upload)
    return JSONResponse({"was_inserted": inserted})


@router.head(CAS_PREFIX + "/v1/xorbs/{prefix}/{xorb_hash}")
async def xorb_exists(
    xorb_hash: str, grant: xet_tokens.CasGrant = Depends(cas_grant(xet_tokens.READ)), hub: Hub = Depends(get_hub)
) -> Response:
    size = await run_in_threadpool(xet_uploads.xorb_size, hub, xorb_hash)
    if size is None:
        return Response(status_code=404)
    return Response(status_code=200, headers={"Content-Length": str(size)})


@router.post(CAS_PREFIX + "/v2/shards", dependencies=[Depends(cas_grant(xet_tokens.WRITE))])
async def upload_shard_v2() -> Response:
    return _not_implemented("Streaming shard registration (v2)", "POST /v1/shards")


@router.post(CAS_PREFIX + "/v1/shards")
async def upload_shard(
    request: Request, grant: xet_tokens.CasGrant = Depends(cas_grant(xet_tokens.WRITE)), hub: Hub = Depends(get_hub)
) -> Response:
    refuse_longer_than(request, MAX_SHARD_BYTES, "Shard")
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > MAX_SHARD_BYTES:
            raise TooLarge(f"Shard exceeds the limit of {MAX_SHARD_BYTES} bytes")
    result = await run_in_threadpool(xet_uploads.register_shard, hub, grant, bytes(body))
    return JSONResponse({"result": result})


# --- downloads ---------------------------------------------------------------------------------------------


@router.get(CAS_PREFIX + "/v2/reconstructions/{file_hash}", dependencies=[Depends(cas_grant(xet_tokens.READ))])
async def reconstruction_v2() -> Response:
    return _not_implemented("Reconstruction v2", "GET /v1/reconstructions")


@router.get(CAS_PREFIX + "/v1/reconstructions/{file_hash}")
async def reconstruction(
    request: Request,
    file_hash: str,
    grant: xet_tokens.CasGrant = Depends(cas_grant(xet_tokens.READ)),
    hub: Hub = Depends(get_hub),
) -> Response:
    base = cas_url(request)
    expires = xet_tokens.fetch_expiry()

    def url_for(xorb: MerkleHash, first: int, last: int) -> str:
        fetch = xet_tokens.FetchGrant(xorb.hex(), first, last, grant.repo_pk, grant.issuer, expires)
        query = {"r": f"{first}-{last}", "rid": grant.repo_pk, "tid": grant.issuer, "exp": expires}
        return f"{base}/v1/fetch/{fetch.xorb_hash}?" + urlencode({**query, "sig": fetch.signature(hub)})

    body = await run_in_threadpool(
        xet.reconstruction_json, hub, grant, file_hash, request.headers.get("range"), url_for
    )
    return JSONResponse(body)


@router.get(CAS_PREFIX + "/v1/fetch/{xorb_hash}", dependencies=[Depends(declared(OpenAction.SIGNED_URL))])
async def fetch(
    request: Request,
    xorb_hash: str,
    r: str,
    exp: int,
    sig: str,
    rid: int = 0,
    tid: int = 0,
    hub: Hub = Depends(get_hub),
) -> Response:
    """Bytes of a stored xorb, within the signed range (hf_xet asks for exactly that range)."""
    signed = parse_closed_range(r)
    if signed is None:
        raise BadRequest("Malformed fetch range")
    first, last = signed
    # 403 (never 401, although the request carries no credentials): hf_xet answers a 403 on a fetch URL by
    # asking for the reconstruction again, which hands out fresh URLs.
    grant = xet_tokens.FetchGrant(xorb_hash, first, last, rid, tid, exp)
    if not await run_in_threadpool(xet_tokens.fetch_allowed, hub, grant, sig):
        raise UrlRefused("This Xet fetch URL is invalid or has expired: ask for the reconstruction again")
    size = await run_in_threadpool(xet.store(hub).xorb_size, xorb_hash)
    if size is None or last >= size:
        raise NotFound(f"Xorb {xorb_hash} is not stored")
    start, stop = first, last
    requested = request.headers.get("range")
    if requested:
        unit, _, span = requested.strip().partition("=")
        bounds = parse_closed_range(span) if unit == "bytes" else None
        if bounds is None:
            raise BadRequest(f"Unsupported Range {requested[:100]!r}: expected one bytes=start-end range")
        start, stop = bounds
        if not first <= start <= stop <= last:
            raise UrlRefused(f"Range {requested} is outside the range this URL grants ({first}-{last})")
    headers = {
        "Content-Length": str(stop - start + 1),
        "Content-Range": f"bytes {start}-{stop}/{size}",
        "Accept-Ranges": "bytes",
    }
    chunks = xet.store(hub).iter_xorb(xorb_hash, start, stop + 1)
    return StreamingResponse(chunks, status_code=206, headers=headers, media_type="application/octet-stream")


# --- telemetry (host root, whatever the CAS prefix) ------------------------------------------------------


@router.post("/v1/telemetry", dependencies=[Depends(declared(OpenAction.PUBLIC))])
async def telemetry() -> Response:
    return Response(status_code=204)
