"""LFS -> Xet conversion, so that files uploaded through LFS can be downloaded through Xet.

Right after an LFS object is stored (and again when a resolve finds an LFS file without a Xet copy), a job is
queued (services/jobs.py). A worker process (background/worker.py), at the lowest priority, stores the blob as Xet
(services/xet_ingest.py: hf_xet's chunking, global dedup, xorbs and a shard checked and registered like a client's
upload, for the repository), then reconstructs the result from the stored xorbs and checks that its sha256 is the
object's oid. Only then is the Xet file marked as a verified copy of the object, which makes resolve advertise it to
hf_xet for every repository linking that object. A conversion that fails is retried with backoff and listed by
`modelyard admin stats`. With conversion switched off, objects stay LFS-only (downloads keep working over plain
HTTP). See docs/architecture.md, "Xet storage" and "Background work".
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import select

from modelyard.db.models import LfsObject, Repo, XetFile
from modelyard.domain.errors import RepoNotFound
from modelyard.domain.repo_ids import RepoRef, RepoType
from modelyard.services import jobs, lfs_files, repos, xet, xet_ingest, xet_read
from modelyard.services.hub import Hub

log = logging.getLogger("modelyard.xet")
KIND = "xet-convert"
SCHEDULED_MEMO_SIZE = 100_000


class _Scheduled:
    """The objects this process queued after a read: the next reads of an unconverted file cost no database query."""

    def __init__(self) -> None:
        self.oids: set[str] = set()
        self.lock = threading.Lock()

    def first_time(self, oid: str) -> bool:
        with self.lock:
            if oid in self.oids:
                return False
            if len(self.oids) >= SCHEDULED_MEMO_SIZE:
                self.oids.clear()
            self.oids.add(oid)
            return True


def schedule(hub: Hub, repo_pk: int, oid: str) -> bool:
    """Queue the conversion of LFS object `oid` (just uploaded to `repo_pk`); True when a job was added."""
    if not hub.settings.xet_convert_lfs:
        return False
    return jobs.enqueue(hub, KIND, oid, repo_pk)


def schedule_missed(hub: Hub, repo_pk: int, oid: str) -> bool:
    """A read found LFS object `oid` of `repo_pk` without a Xet copy (uploaded before the queue existed, or while
    conversion was off): queue it, at most once per object and serving process."""
    if not hub.component("xet_convert_scheduled", _Scheduled).first_time(oid):
        return False
    return schedule(hub, repo_pk, oid)


def run_job(hub: Hub, job: jobs.Job) -> None:
    """A worker's handler: convert, or end quietly when the repository or the blob went away meanwhile."""
    assert job.repo_pk is not None
    try:
        convert(hub, job.repo_pk, job.subject)
    except Exception:
        if not _still_wanted(hub, job.repo_pk, job.subject):
            log.debug("Dropped the Xet conversion of %s: its repository or blob is gone", job.subject)
            return
        raise


def _still_wanted(hub: Hub, repo_pk: int, oid: str) -> bool:
    with hub.db.session() as session:
        linked = session.scalar(select(Repo.id).where(Repo.id == repo_pk))
    return linked is not None and hub.blobs.size(oid) is not None


def _withdraw_if_deleted(hub: Hub, repo_pk: int, oid: str) -> None:
    """Registering the conversion through the CAS recorded a claim of `oid` for the repository, as any upload
    does. If the object was permanently deleted from the repository meanwhile, that claim must not bring it
    back: withdraw it (the verified Xet copy stays, for the other repositories that uploaded the object)."""
    with hub.db.session() as session:
        uploaded = session.scalar(
            select(LfsObject.oid).where(
                LfsObject.repo_id == repo_pk, LfsObject.oid == oid, LfsObject.source == xet.UPLOADED
            )
        )
        if uploaded is None:
            lfs_files.unlink(session, repo_pk, [oid])


def convert(hub: Hub, repo_pk: int, oid: str) -> str | None:
    """Convert one blob; returns the Xet file hash (None when there was nothing to do)."""
    if xet.has_verified_file(hub, oid):
        return None  # converted before: every repository linking the object can use that copy
    size = hub.blobs.size(oid)
    if size is None or size == 0:
        return None
    started = time.monotonic()
    file_hash = xet_ingest.ingest_file(hub, repo_pk, hub.blobs.path(oid), oid)
    record = xet.load_file(hub, file_hash)
    if record is None or record.size != size:
        raise RuntimeError(f"the CAS did not register Xet file {file_hash} of {size} bytes")
    actual = xet_read.file_sha256(hub, record)
    xet.mark_verified(hub, file_hash, actual)  # what the file really holds, even when it is not the object
    if actual != oid:
        raise RuntimeError(f"Xet file {file_hash} reconstructs to sha256 {actual}, not {oid}: is the blob corrupt?")
    _withdraw_if_deleted(hub, repo_pk, oid)
    log.info("Converted LFS object %s (%d bytes) to Xet file %s in %.1fs", oid, size, file_hash,
             time.monotonic() - started)  # fmt: skip
    return file_hash


def evict_converted_blobs(hub: Hub, repo_pk: int | None = None, dry_run: bool = False) -> tuple[int, int]:
    """Delete the LFS blobs that have a verified Xet copy (of the objects of `repo_pk`, or all of them).

    Their downloads (resolve, git-lfs, plain HTTP) are then reconstructed from the xorbs: every byte is
    stored once. An explicit operation, like garbage collection, never run by the server on its own.
    Returns (blobs deleted, bytes freed).
    """
    with hub.db.session() as session:
        query = select(XetFile.verified_sha256, XetFile.size).where(XetFile.verified_sha256.is_not(None))
        if repo_pk is not None:
            linked = select(LfsObject.oid).where(LfsObject.repo_id == repo_pk)
            query = query.where(XetFile.verified_sha256.in_(linked))
        candidates = sorted(set(session.execute(query).all()))
    count = freed = 0
    for oid, size in candidates:
        if hub.blobs.size(oid) != size:
            continue  # not stored as a blob (any more), or not the verified content
        if not dry_run:
            hub.blobs.path(oid).unlink(missing_ok=True)
        count += 1
        freed += size
    return count, freed


def repo_pk_of(hub: Hub, repo: str) -> int:
    """The primary key of `[datasets/|spaces/]namespace/name` (for admin commands; no access check)."""
    kind = RepoType.MODEL
    for candidate in (RepoType.DATASET, RepoType.SPACE):
        if repo.startswith(candidate.url_prefix):
            kind, repo = candidate, repo.removeprefix(candidate.url_prefix)
    ref = RepoRef.parse(kind, repo)
    with hub.db.session() as session:
        pk = session.scalar(select(Repo.id).where(repos.named(Repo, ref)))
    if pk is None:
        raise RepoNotFound(f"No {kind.value} repository {ref.id}")
    return pk
