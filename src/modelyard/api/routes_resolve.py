"""File downloads: HEAD and GET on /{prefix}{id}/resolve/{revision}/{path} (hub-api §7.1)."""

from __future__ import annotations

import mimetypes
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelyard.api.raw_path import segment
from modelyard.domain.ranges import parse_range
from modelyard.domain.repo_ids import RepoType
from modelyard.frontdoor.access import repo_access
from modelyard.frontdoor.deps import client_of, get_actor, get_hub
from modelyard.frontdoor.file_responses import resolve_lfs
from modelyard.gitstore.repository import Entry
from modelyard.services import download_counts
from modelyard.services.access import Action
from modelyard.services.files import Snapshot, file_entry, snapshot
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor

router = APIRouter()


def split_special_ref(revision: str, path: str) -> tuple[str, str]:
    """HfFileSystem sends special refs unencoded: `resolve/refs/pr/3/file` means revision `refs/pr/3`."""
    if revision == "refs":
        kind, _, rest = path.partition("/")
        number, _, file_path = rest.partition("/")
        if kind in ("pr", "convert") and number and file_path:
            return f"refs/{kind}/{number}", file_path
    return revision, path


async def _resolve(
    request: Request, hub: Hub, record: RepoRecord, actor: Actor | None, revision: str, path: str
) -> Response:
    revision, path = split_special_ref(segment(revision), segment(path))
    who = download_counts.visitor(client_of(request).address, actor)

    def lookup() -> tuple[Snapshot, Entry]:
        snap = snapshot(hub, record, revision)
        entry = file_entry(snap, path)
        size = entry.lfs.size if entry.lfs is not None else entry.size
        selected = parse_range(request.headers.get("range"), size)  # a 416 counts nothing
        start = selected[0] if selected is not None else None
        user_agent = request.headers.get("user-agent", "")
        download_counts.count(hub, record, snap.commit, path, snap.card, request.method, who, user_agent, start)
        return snap, entry

    snap, entry = await run_in_threadpool(lookup)
    filename = path.rsplit("/", 1)[-1]
    media_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    headers = {
        "X-Repo-Commit": snap.commit,
        "Accept-Ranges": "bytes",
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(filename)}; filename=\"{_ascii(filename)}\"",
        "Access-Control-Expose-Headers": "X-Repo-Commit, X-Linked-Etag, X-Linked-Size, ETag, Content-Range",
    }
    if entry.lfs is not None:
        # An unsatisfiable range is answered here, by the one error mapping (FileResponse's own 416 names nothing).
        parse_range(request.headers.get("range"), entry.lfs.size)
        headers["ETag"] = f'"{entry.lfs.oid}"'
        headers["X-Linked-Etag"] = f'"{entry.lfs.oid}"'
        headers["X-Linked-Size"] = str(entry.lfs.size)
        return await resolve_lfs(request, hub, record, snap.commit, path, entry.lfs, headers, media_type)
    headers["ETag"] = f'"{entry.oid}"'
    content = await run_in_threadpool(snap.git.read_blob, entry.oid)
    return _bytes_response(request, content, headers, media_type)


def _bytes_response(request: Request, content: bytes, headers: dict[str, str], media_type: str) -> Response:
    status = 200
    selected = parse_range(request.headers.get("range"), len(content))
    if selected is not None:
        start, end = selected
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(content)}"
        content, status = content[start:end], 206
    headers["Content-Length"] = str(len(content))
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    return Response(content, status_code=status, headers=headers, media_type=media_type)


def _ascii(filename: str) -> str:
    return filename.encode("ascii", "replace").decode().replace('"', "_")


def _endpoint(repo_type: RepoType):  # type: ignore[no-untyped-def]
    async def resolve(
        request: Request,
        revision: str,
        path: str,
        record: RepoRecord = Depends(repo_access(Action.DOWNLOAD, repo_type)),
        actor: Actor | None = Depends(get_actor),
        hub: Hub = Depends(get_hub),
    ) -> Response:
        return await _resolve(request, hub, record, actor, revision, path)

    return resolve


# Prefixed types first, so that /datasets/... is never read as a model namespace called "datasets".
for _type in sorted(RepoType, key=lambda t: t is RepoType.MODEL):
    router.add_api_route(
        f"/{_type.url_prefix}{{namespace}}/{{name}}/resolve/{{revision}}/{{path:path}}",
        _endpoint(_type),
        methods=["GET", "HEAD"],
        name=f"resolve_{_type.value}",
    )
