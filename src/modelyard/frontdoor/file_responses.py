"""Plain HTTP bytes of Xet files, for clients that do not speak Xet (curl, git-lfs, HF_HUB_DISABLE_XET=1).

A file with a plain copy on disk (`services/xet_copies`) is sent from it like an LFS blob. Otherwise the bytes are
reconstructed from the stored xorbs while they are sent, a batch of chunks at a time
(`services/xet_read`), and the response produces the next piece only once the client has taken the previous one
(`PacedStreamingResponse`): a slow reader costs the server about one 512 KiB piece, whatever the file size. A single
`Range` is honoured (206, or 416 past the end). Call from a worker thread (it reads the database).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelyard.domain.errors import EntryNotFound, NotFound
from modelyard.domain.lfs_pointer import LfsPointer
from modelyard.domain.ranges import parse_range
from modelyard.frontdoor.deps import base_url
from modelyard.frontdoor.streaming import BlobFileResponse, PacedStreamingResponse, open_file
from modelyard.services import lfs, xet, xet_convert, xet_copies, xet_read
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord


def xet_file_response(
    request: Request, hub: Hub, file_hash: str, headers: dict[str, str], media_type: str = "application/octet-stream"
) -> Response:
    record = xet.load_file(hub, file_hash)
    if record is None:
        raise NotFound(f"Xet file {file_hash} is not stored on this server")
    size = record.size
    status, start, end = 200, 0, size
    selected = parse_range(request.headers.get("range"), size)
    copy = xet_copies.copies(hub).open_copy(record) if request.method == "GET" else None
    if copy is not None:  # served like an LFS blob; Range, HEAD and pacing as there
        return BlobFileResponse(copy, headers=headers, media_type=media_type)
    if selected is not None:
        start, end = selected
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    headers.setdefault("Accept-Ranges", "bytes")
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    body = xet_read.iter_file_bytes(hub, record, start, end)
    return PacedStreamingResponse(body, status_code=status, headers=headers, media_type=media_type)


async def resolve_lfs(
    request: Request,
    hub: Hub,
    record: RepoRecord,
    commit: str,
    path: str,
    pointer: LfsPointer,
    headers: dict[str, str],
    media_type: str,
) -> Response:
    """The large-file part of resolve (hub-api §7.1, xet.md §6.4).

    Adds `X-Xet-Hash` and the token refresh `Link` to `headers` when the file has a Xet reconstruction,
    so that hf_xet downloads it through the CAS, and answers with the bytes (`object_response`).
    """
    located = await run_in_threadpool(lambda: lfs.locate(hub, record.pk, {pointer.oid}, hash_claims=False))
    content = located.get(pointer.oid)
    if content is None or content.size != pointer.size:
        raise EntryNotFound(f"The content of {path} ({pointer.oid}) is not stored for this repository", commit)
    if content.xet is not None:
        token_url = f"{base_url(request)}/api/{record.ref.type.plural}/{record.ref.id}/xet-read-token/{commit}"
        headers["X-Xet-Hash"] = content.xet.hash
        headers["Link"] = f'<{token_url}>; rel="xet-auth"'
        headers["Access-Control-Expose-Headers"] = headers.get("Access-Control-Expose-Headers", "") + ", X-Xet-Hash"
    else:
        await run_in_threadpool(xet_convert.schedule_missed, hub, record.pk, pointer.oid)
    return await run_in_threadpool(object_response, request, hub, record.pk, pointer.oid, content, headers, media_type)


def object_response(
    request: Request,
    hub: Hub,
    repo_pk: int,
    oid: str,
    content: lfs.Content,
    headers: dict[str, str],
    media_type: str = "application/octet-stream",
) -> Response:
    """The bytes of a located large object: its LFS blob, else its Xet file (a plain copy, or rebuilt).

    Its blob may be gone by the time it is opened: `modelyard admin xet-evict-lfs` removes blobs that have a verified
    Xet file, maybe between this download locating the object and opening its blob. The object is then located
    again, and its Xet file found. (A plain copy evicted the same way is caught by `xet_file_response`, which
    rebuilds the bytes instead.) Call from a worker thread.
    """
    response = _stored_bytes(request, hub, oid, content, headers, media_type)
    if response is None:
        again = lfs.locate(hub, repo_pk, {oid}, hash_claims=False).get(oid)
        response = None if again is None else _stored_bytes(request, hub, oid, again, headers, media_type)
    if response is None:
        raise NotFound(f"Object {oid} is no longer stored on this server")
    return response


def _stored_bytes(
    request: Request, hub: Hub, oid: str, content: lfs.Content, headers: dict[str, str], media_type: str
) -> Response | None:
    """The response sending `content`; None when its blob went since it was located and it has no Xet file."""
    if content.blob:
        blob = open_file(hub.blobs.path(oid))
        if blob is not None:
            return BlobFileResponse(blob, headers=headers, media_type=media_type)
    if content.xet is not None:
        return xet_file_response(request, hub, content.xet.hash, headers, media_type)
    return None


def with_xet_hashes(hub: Hub, repo_pk: int, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add `xetHash` to the tree / paths-info entries of LFS files that have a Xet reconstruction.

    huggingface_hub caches it and then downloads straight through Xet, skipping the HEAD (hub-api §7.4).
    """
    oids = {entry["lfs"]["oid"] for entry in entries if "lfs" in entry}
    files = xet.repo_files(hub, repo_pk, oids) if oids else {}
    for entry in entries:
        found = files.get(entry["lfs"]["oid"]) if "lfs" in entry else None
        if found is not None and found.size == entry["lfs"]["size"]:
            entry["xetHash"] = found.hash
    return entries
