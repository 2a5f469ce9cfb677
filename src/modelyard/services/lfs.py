"""The git-LFS batch API and its transfers (basic and multipart), as huggingface_hub and git-lfs use them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from modelyard.db.models import LfsObject, Repo
from modelyard.domain.dates import utcnow
from modelyard.domain.errors import BadRequest, NotFound, TooLarge
from modelyard.domain.lfs_pointer import is_sha256
from modelyard.services import signing, xet, xet_convert
from modelyard.services.access import Action, authorize
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor

MAX_BATCH_OBJECTS = 1000


@dataclass(frozen=True)
class Ticket:
    """What a signed URL grants: uploading (or downloading) one object of one repo, or one part of it."""

    purpose: str  # "upload" or "download"
    repo_pk: int
    oid: str
    size: int
    part: int = 0  # 0: the whole object; n: part n; -1: multipart completion

    def parts(self) -> tuple[object, ...]:
        return (self.purpose, self.repo_pk, self.oid, self.size, self.part)


def batch(
    hub: Hub,
    actor: Actor | None,
    record: RepoRecord,
    body: dict[str, Any],
    url_for: Callable[[str], str],
) -> dict[str, Any]:
    """Answer a batch request. `url_for(path_and_query)` makes an absolute URL on this server."""
    operation = body.get("operation")
    objects = body.get("objects")
    if operation not in ("upload", "download") or not isinstance(objects, list):
        raise BadRequest("A batch request needs operation 'upload' or 'download' and a list of objects")
    if len(objects) > MAX_BATCH_OBJECTS:
        raise BadRequest(f"At most {MAX_BATCH_OBJECTS} objects per batch request")
    authorize(actor, Action.WRITE if operation == "upload" else Action.READ, record.ref.namespace, record.private)
    parsed = [_parse_object(obj) for obj in objects]
    linked = _linked(hub, record, {oid for oid, _ in parsed})
    key = signing.signing_key(hub)
    multipart = "multipart" in (body.get("transfers") or [])
    answers = []
    for oid, size in parsed:
        if operation == "upload":
            answers.append(_upload_answer(hub, key, record, oid, size, linked, multipart, url_for))
        else:
            answers.append(_download_answer(hub, key, record, oid, size, linked, url_for))
    transfer = "multipart" if any("chunk_size" in _header(a) for a in answers) else "basic"
    return {"transfer": transfer, "objects": answers, "hash_algo": "sha256"}


def _parse_object(obj: object) -> tuple[str, int]:
    if not isinstance(obj, dict) or not isinstance(obj.get("oid"), str) or not isinstance(obj.get("size"), int):
        raise BadRequest("Each batch object needs a string 'oid' and an integer 'size'")
    if not is_sha256(obj["oid"]) or obj["size"] < 0:
        raise BadRequest(f"Invalid object {obj['oid']!r}: oid must be a sha256 hex digest and size >= 0")
    return obj["oid"], obj["size"]


def _header(answer: dict[str, Any]) -> dict[str, Any]:
    return answer.get("actions", {}).get("upload", {}).get("header", {})


def _linked(hub: Hub, record: RepoRecord, oids: set[str]) -> dict[str, int]:
    with hub.db.session() as session:
        rows = session.scalars(select(LfsObject).where(LfsObject.repo_id == record.pk, LfsObject.oid.in_(oids)))
        return {row.oid: row.size for row in rows}


def uploaded_sizes(hub: Hub, record: RepoRecord, oids: set[str]) -> dict[str, int]:
    """oid -> stored size, for each of `oids` uploaded to this repository and present in the blob store.

    What every way of committing (API commits, git pushes) checks before a pointer may reference an object.
    """
    linked = _linked(hub, record, oids) if oids else {}
    stored = {oid: hub.blobs.size(oid) for oid in linked}
    if missing := [oid for oid, size in stored.items() if size is None]:  # uploaded through Xet: no blob
        stored.update({oid: ref.size for oid, ref in xet.repo_files(hub, record.pk, missing).items()})
    return {oid: size for oid, size in stored.items() if size is not None}


def _signed_url(key: bytes, ttl: int, url_for: Callable[[str], str], path: str, ticket: Ticket) -> str:
    expires = signing.expiry(ttl)
    query = urlencode({"size": ticket.size, "exp": expires, "sig": signing.sign(key, expires, *ticket.parts())})
    return url_for(f"{path}?{query}")


def _upload_answer(
    hub: Hub,
    key: bytes,
    record: RepoRecord,
    oid: str,
    size: int,
    linked: dict[str, int],
    multipart: bool,
    url_for: Callable[[str], str],
) -> dict[str, Any]:
    if size > hub.settings.max_file_size:
        raise TooLarge(f"Object {oid} is {size} bytes, over the limit of {hub.settings.max_file_size} bytes")
    # Not "authenticated": git-lfs then sends credentials with the actions, which `verify` needs
    # (the signed upload URLs ignore them).
    answer: dict[str, Any] = {"oid": oid, "size": size}
    if linked.get(oid) == size and xet.object_size(hub, record.pk, oid) == size:
        return answer  # already here: nothing to send
    ttl = hub.settings.upload_url_ttl_seconds
    base = f"/api/lfs/{record.pk}/{oid}"
    chunk = hub.settings.lfs_multipart_chunk_size
    verify = {"href": url_for(f"/{record.ref.type.url_prefix}{record.ref.id}.git/info/lfs/objects/verify")}
    if multipart and size > chunk:
        count = math.ceil(size / chunk)
        header: dict[str, Any] = {"chunk_size": str(chunk)}
        for number in range(1, count + 1):
            header[str(number)] = _signed_url(
                key, ttl, url_for, f"{base}/part/{number}", Ticket("upload", record.pk, oid, size, number)
            )
        complete = _signed_url(key, ttl, url_for, f"{base}/complete", Ticket("upload", record.pk, oid, size, -1))
        answer["actions"] = {"upload": {"href": complete, "header": header}, "verify": verify}
    else:
        href = _signed_url(key, ttl, url_for, base, Ticket("upload", record.pk, oid, size))
        answer["actions"] = {"upload": {"href": href}, "verify": verify}
    return answer


def _download_answer(
    hub: Hub,
    key: bytes,
    record: RepoRecord,
    oid: str,
    size: int,
    linked: dict[str, int],
    url_for: Callable[[str], str],
) -> dict[str, Any]:
    if oid not in linked or xet.object_size(hub, record.pk, oid) is None:
        return {"oid": oid, "size": size, "error": {"code": 404, "message": f"Object {oid} does not exist"}}
    ticket = Ticket("download", record.pk, oid, linked[oid])
    href = _signed_url(key, hub.settings.upload_url_ttl_seconds, url_for, f"/api/lfs/{record.pk}/{oid}", ticket)
    return {"oid": oid, "size": linked[oid], "actions": {"download": {"href": href}}}


def check_ticket(hub: Hub, ticket: Ticket, expires: int, signature: str) -> None:
    signing.check(signing.signing_key(hub), signature, expires, *ticket.parts())


def link_object(hub: Hub, repo_pk: int, oid: str, size: int) -> None:
    """Record that repository `repo_pk` may reference the stored object `oid`."""
    try:
        with hub.db.session() as session:
            if session.get(Repo, repo_pk) is None:
                raise NotFound("The repository of this upload no longer exists")
            linked = session.scalar(select(LfsObject).where(LfsObject.repo_id == repo_pk, LfsObject.oid == oid))
            if linked is None:
                session.add(LfsObject(repo_id=repo_pk, oid=oid, size=size, pushed_at=utcnow()))
    except IntegrityError:
        pass  # a concurrent upload of the same object linked it first
    xet_convert.schedule(hub, repo_pk, oid)  # in the background: a Xet copy for hf_xet downloads


def verify(hub: Hub, record: RepoRecord, body: dict[str, Any]) -> None:
    oid, size = _parse_object(body)
    if _linked(hub, record, {oid}).get(oid) != size or xet.object_size(hub, record.pk, oid) != size:
        raise NotFound(f"Object {oid} of size {size} was not uploaded to this repository")
