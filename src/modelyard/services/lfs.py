"""The git-LFS batch API and its transfers (basic and multipart), as huggingface_hub and git-lfs use them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from modelyard.blobs.local import BlobWriter, PartWriter
from modelyard.db.models import LfsObject, Repo
from modelyard.domain.dates import utcnow
from modelyard.domain.errors import BadRequest, NotFound, TooLarge, UrlRefused
from modelyard.domain.lfs_pointer import is_sha256
from modelyard.services import grants, repos, signing, xet, xet_convert
from modelyard.services.access import Action
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor

# Bounds on one batch answer (see docs/architecture.md, "Bounded work per request"). git-lfs sends 100 objects
# per batch and huggingface_hub 256; each multipart object costs one signed URL per part, so the parts of one
# answer share a budget and the part size grows instead (huggingface_hub follows any `chunk_size`).
MAX_BATCH_OBJECTS = 1000
MAX_PART_URLS_PER_BATCH = 10_000  # also S3's limit on the parts of one multipart upload
# What a batch operation, and the signed URLs it hands out, need (services/access.py).
_ACTION = {"upload": Action.CONTRIBUTE, "download": Action.DOWNLOAD}


@dataclass(frozen=True)
class Ticket:
    """What a signed URL grants: uploading (or downloading) one object of one repo, or one part of it."""

    purpose: str  # "upload" or "download"
    repo_pk: int
    oid: str
    size: int
    part: int = 0  # 0: the whole object; n: part n; -1: multipart completion
    part_size: int = 0  # multipart only: the size of every part but the last
    issuer: int = grants.ANONYMOUS  # the access token that obtained the URL (services.grants)

    def parts(self) -> tuple[object, ...]:
        return (self.purpose, self.repo_pk, self.oid, self.size, self.part, self.part_size, self.issuer)


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
        # 413 is what the git-LFS batch API documents for "too many objects".
        raise TooLarge(f"A batch request may name at most {MAX_BATCH_OBJECTS} objects, not {len(objects)}")
    # Uploading is contributing (as on the Hub): the bytes are verified against their sha256 and reach a branch
    # only through a commit, which the commit path authorizes (a branch needs write access).
    repos.authorize_on(hub, actor, record, _ACTION[operation])
    transfers = body.get("transfers") or []
    if not isinstance(transfers, list):
        raise BadRequest("'transfers' must be a list of transfer names")
    parsed = [_parse_object(obj) for obj in objects]
    located = locate(hub, record.pk, {oid for oid, _ in parsed}, hash_claims=False)
    key = signing.signing_key(hub)
    multipart = operation == "upload" and "multipart" in transfers
    part_budget = _part_budget(hub, parsed, located) if multipart else 0
    issuer = grants.issuer_of(actor)
    answers = []
    for oid, size in parsed:
        if operation == "upload":
            answers.append(_upload_answer(hub, key, record, issuer, oid, size, located, part_budget, url_for))
        else:
            answers.append(_download_answer(hub, key, record, issuer, oid, size, located, url_for))
    transfer = "multipart" if any("chunk_size" in _header(a) for a in answers) else "basic"
    return {"transfer": transfer, "objects": answers, "hash_algo": "sha256"}


def _parse_object(obj: object) -> tuple[str, int]:
    if not isinstance(obj, dict) or not isinstance(obj.get("oid"), str) or not isinstance(obj.get("size"), int):
        raise BadRequest("Each batch object needs a string 'oid' and an integer 'size'")
    if not is_sha256(obj["oid"]) or obj["size"] < 0:
        raise BadRequest(f"Invalid object {obj['oid']!r}: oid must be a sha256 hex digest and size >= 0")
    return obj["oid"], obj["size"]


def _part_budget(hub: Hub, parsed: list[tuple[str, int]], located: dict[str, Content]) -> int:
    """How many part URLs each multipart object of this batch may get."""
    chunk = hub.settings.lfs_multipart_chunk_size
    uploads = sum(1 for oid, size in parsed if size > chunk and (oid not in located or located[oid].size != size))
    return MAX_PART_URLS_PER_BATCH // max(uploads, 1)


def part_size(size: int, chunk: int, budget: int) -> int:
    """The part size for an object of `size` bytes: the configured chunk, or larger to stay within `budget` parts."""
    return max(chunk, math.ceil(size / max(budget, 1)))


def _header(answer: dict[str, Any]) -> dict[str, Any]:
    return answer.get("actions", {}).get("upload", {}).get("header", {})


@dataclass(frozen=True)
class Content:
    """Where one repository gets the bytes of one large object from."""

    size: int
    blob: bool  # the shared LFS blob: this repository uploaded those bytes and the server checked them
    xet: xet.XetFileRef | None  # the repository's Xet file for the object, or a verified copy of its blob


def locate(hub: Hub, repo_pk: int, oids: set[str], *, hash_claims: bool) -> dict[str, Content]:
    """The objects among `oids` that repository `repo_pk` may reference and read, and where their bytes are.

    The one rule for every path that accepts or serves a large object (commits, pushes, resolve, the batch
    API, signed downloads): a blob counts only if it was uploaded to this repository; a Xet file only if
    it was registered for it and hashed by the server to that sha256 (or is a verified copy of one of its
    blobs). Knowing a hash is never enough, and a sha256 only ever serves bytes with that sha256.

    `hash_claims`: hash the repository's claims among `oids` that were never hashed, so that they can count. Only
    for writers (commits, pushes, copies) and fsck: every committed claim was hashed by its commit, and a read never
    pays for hashing, so anonymous downloads cannot make the server rebuild and hash files that nobody committed.
    """
    if not oids:
        return {}
    with hub.db.session() as session:
        uploaded = set(
            session.scalars(
                select(LfsObject.oid).where(
                    LfsObject.repo_id == repo_pk, LfsObject.oid.in_(oids), LfsObject.source == xet.UPLOADED
                )
            )
        )
    blob_sizes = {oid: size for oid in uploaded if (size := hub.blobs.size(oid)) is not None}
    if hash_claims:  # objects the repository uploaded as blobs never need it
        xet.verify_claims(hub, repo_pk, oids - blob_sizes.keys())
    xet_files = xet.repo_files(hub, repo_pk, oids)
    found: dict[str, Content] = {}
    for oid in oids:
        blob_size = blob_sizes.get(oid)
        if blob_size is not None:
            found[oid] = Content(blob_size, True, xet_files.get(oid))
        elif oid in xet_files:
            found[oid] = Content(xet_files[oid].size, False, xet_files[oid])
    return found


def uploaded_sizes(hub: Hub, record: RepoRecord, oids: set[str]) -> dict[str, int]:
    """oid -> size, for each of `oids` this repository may reference (see `locate`)."""
    return {oid: content.size for oid, content in locate(hub, record.pk, oids, hash_claims=True).items()}


def _signed_url(key: bytes, ttl: int, url_for: Callable[[str], str], path: str, ticket: Ticket) -> str:
    expires = signing.expiry(ttl)
    fields: dict[str, object] = {"size": ticket.size}
    if ticket.part_size:
        fields["part_size"] = ticket.part_size
    fields["tid"] = ticket.issuer
    query = urlencode({**fields, "exp": expires, "sig": signing.sign(key, expires, *ticket.parts())})
    return url_for(f"{path}?{query}")


def _upload_answer(
    hub: Hub,
    key: bytes,
    record: RepoRecord,
    issuer: int,
    oid: str,
    size: int,
    located: dict[str, Content],
    part_budget: int,
    url_for: Callable[[str], str],
) -> dict[str, Any]:
    """The upload actions for one object; multipart (in at most `part_budget` parts) when the budget allows."""
    if size > hub.settings.max_file_size:
        raise TooLarge(f"Object {oid} is {size} bytes, over the limit of {hub.settings.max_file_size} bytes")
    # Not "authenticated": git-lfs then sends credentials with the actions, which `verify` needs
    # (the signed upload URLs ignore them).
    answer: dict[str, Any] = {"oid": oid, "size": size}
    if oid in located and located[oid].size == size:
        return answer  # already here: nothing to send
    ttl = hub.settings.upload_url_ttl_seconds
    base = f"/api/lfs/{record.pk}/{oid}"
    chunk = hub.settings.lfs_multipart_chunk_size
    verify = {"href": url_for(f"/{record.ref.type.url_prefix}{record.ref.id}.git/info/lfs/objects/verify")}
    if part_budget and size > chunk:
        each = part_size(size, chunk, part_budget)
        header: dict[str, Any] = {"chunk_size": str(each)}
        for number in range(1, math.ceil(size / each) + 1):
            header[str(number)] = _signed_url(
                key, ttl, url_for, f"{base}/part/{number}", Ticket("upload", record.pk, oid, size, number, each, issuer)
            )
        ticket = Ticket("upload", record.pk, oid, size, -1, each, issuer)
        complete = _signed_url(key, ttl, url_for, f"{base}/complete", ticket)
        answer["actions"] = {"upload": {"href": complete, "header": header}, "verify": verify}
    else:
        href = _signed_url(key, ttl, url_for, base, Ticket("upload", record.pk, oid, size, issuer=issuer))
        answer["actions"] = {"upload": {"href": href}, "verify": verify}
    return answer


def _download_answer(
    hub: Hub,
    key: bytes,
    record: RepoRecord,
    issuer: int,
    oid: str,
    size: int,
    located: dict[str, Content],
    url_for: Callable[[str], str],
) -> dict[str, Any]:
    content = located.get(oid)
    if content is None:
        return {"oid": oid, "size": size, "error": {"code": 404, "message": f"Object {oid} does not exist"}}
    ticket = Ticket("download", record.pk, oid, content.size, issuer=issuer)
    href = _signed_url(key, hub.settings.upload_url_ttl_seconds, url_for, f"/api/lfs/{record.pk}/{oid}", ticket)
    return {"oid": oid, "size": content.size, "actions": {"download": {"href": href}}}


def check_ticket(hub: Hub, ticket: Ticket, expires: int, signature: str) -> Ticket:
    """The ticket, if the signed URL that carries it is genuine, unexpired, and its issuer may still use it."""
    signing.check(signing.signing_key(hub), signature, expires, *ticket.parts())
    if not grants.still_allowed(hub, ticket.issuer, ticket.repo_pk, _ACTION[ticket.purpose]):
        raise UrlRefused("This transfer URL was withdrawn: its token was revoked, or the repository is gone")
    return ticket


def object_writer(hub: Hub, ticket: Ticket) -> BlobWriter:
    """Where the body of a basic-transfer upload goes; `store_object` then publishes it."""
    return hub.blobs.writer(max_size=ticket.size)


def store_object(hub: Hub, ticket: Ticket, writer: BlobWriter) -> None:
    """Verify the received bytes against the ticket's oid and size, publish them, link them to the repo."""
    writer.finish(ticket.oid, ticket.size)
    link_object(hub, ticket.repo_pk, ticket.oid, ticket.size)


def part_ticket(
    hub: Hub, repo_pk: int, oid: str, size: int, part: int, each: int, issuer: int, expires: int, signature: str
) -> Ticket:
    """The ticket of a multipart part URL (parts of `each` bytes), if genuine."""
    if part < 1:  # part 0 is the whole-object ticket's: its signature must not pass for a part
        raise BadRequest(f"Invalid part number {part}: multipart upload parts are numbered from 1")
    return check_ticket(hub, Ticket("upload", repo_pk, oid, size, part, each, issuer), expires, signature)


def part_writer(hub: Hub, ticket: Ticket) -> PartWriter:
    return hub.blobs.part_writer(str(ticket.repo_pk), ticket.oid, ticket.part, ticket.part_size, ticket.size)


def complete_multipart(hub: Hub, ticket: Ticket, body: dict[str, Any]) -> None:
    """Verify the object its parts make up and publish it (no copy: they were written in place), link it to the
    repository."""
    parts = body.get("parts")
    if not isinstance(parts, list) or not all(
        isinstance(p, dict) and isinstance(p.get("partNumber"), int) for p in parts
    ):
        raise BadRequest("Expected {oid, parts: [{partNumber, etag}]}")
    expected = math.ceil(ticket.size / max(ticket.part_size, 1))
    if len(parts) != expected:
        raise BadRequest(f"Object {ticket.oid} has {expected} parts, the completion lists {len(parts)}")
    numbers = sorted(p["partNumber"] for p in parts)
    try:
        hub.blobs.complete_multipart(str(ticket.repo_pk), ticket.oid, numbers, ticket.part_size, ticket.size)
    except BadRequest:
        # A completion sent again (the client gave up waiting for the first, which may hash and sync a large
        # object) finds the upload gone once the first succeeded: the object is this repository's, all is well.
        content = locate(hub, ticket.repo_pk, {ticket.oid}, hash_claims=False).get(ticket.oid)
        if content is None or not content.blob or content.size != ticket.size:
            raise
        return
    link_object(hub, ticket.repo_pk, ticket.oid, ticket.size)


def downloadable(hub: Hub, ticket: Ticket) -> Content:
    """What a signed download URL serves, checked again now: a deleted repository's objects are gone."""
    content = locate(hub, ticket.repo_pk, {ticket.oid}, hash_claims=False).get(ticket.oid)
    if content is None:
        raise NotFound(f"Object {ticket.oid} does not exist")
    return content


def link_object(hub: Hub, repo_pk: int, oid: str, size: int) -> None:
    """Record that repository `repo_pk` uploaded the (verified, stored) object `oid`."""
    try:
        with hub.db.session() as session:
            if session.get(Repo, repo_pk) is None:
                raise NotFound("The repository of this upload no longer exists")
            linked = session.scalar(select(LfsObject).where(LfsObject.repo_id == repo_pk, LfsObject.oid == oid))
            if linked is None:
                session.add(LfsObject(repo_id=repo_pk, oid=oid, size=size, pushed_at=utcnow(), source=xet.UPLOADED))
            else:
                linked.source = xet.UPLOADED  # a Xet claim backed by real bytes now
    except IntegrityError:
        pass  # a concurrent upload of the same object linked it first
    xet_convert.schedule(hub, repo_pk, oid)  # in the background: a Xet copy for hf_xet downloads


def verify(hub: Hub, record: RepoRecord, body: dict[str, Any]) -> None:
    oid, size = _parse_object(body)
    content = locate(hub, record.pk, {oid}, hash_claims=False).get(oid)
    if content is None or content.size != size:
        raise NotFound(f"Object {oid} of size {size} was not uploaded to this repository")
