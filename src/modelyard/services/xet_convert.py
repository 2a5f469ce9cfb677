"""LFS -> Xet conversion, so that files uploaded through LFS can be downloaded through Xet.

Right after an LFS object is stored (and again when a resolve finds an LFS file without a Xet copy), the
object is queued here. A background thread uploads the blob to this very server's CAS with hf_xet itself
(native-speed content-defined chunking, the same validated upload path as any client, global dedup
included) using an internal write token of the repository, then reconstructs the result from the stored
xorbs and checks that its sha256 is the object's oid. Only then is the Xet file marked as a verified copy
of the object, which makes resolve advertise it to hf_xet for every repository linking that object.

Best effort: when hf_xet is not installed or the server cannot reach itself, the object simply stays
LFS-only (downloads keep working over plain HTTP). See docs/architecture.md, "Xet storage".
"""

from __future__ import annotations

import datetime
import functools
import logging
import queue
import threading
import time
from typing import Any

from sqlalchemy import select

from modelyard.config import Settings
from modelyard.db.models import LfsObject, Repo, XetFile
from modelyard.domain.errors import RepoNotFound
from modelyard.domain.repo_ids import RepoRef, RepoType
from modelyard.services import grants, lfs_files, repos, xet, xet_read, xet_tokens
from modelyard.services.hub import Hub

log = logging.getLogger("modelyard.xet")
RETRY_AFTER_SECONDS = 600


def internal_cas_url(settings: Settings) -> str:
    """The CAS as this server reaches itself: its own listening address, never the public URL."""
    host = settings.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}{xet.CAS_PREFIX}"


@functools.cache
def _hf_xet() -> Any:
    try:
        import hf_xet
    except ImportError:  # pragma: no cover - hf_xet is optional on the server
        return None
    return hf_xet


class Converter:
    """One background thread per hub converting queued (repo, oid) pairs one at a time."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._queue: queue.Queue[tuple[int, str]] = queue.Queue()
        self._pending: set[str] = set()
        self._failed: dict[str, float] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._session: Any = None

    def schedule(self, repo_pk: int, oid: str) -> bool:
        """Queue `oid` (linked to `repo_pk`); False when it is already queued or failed recently."""
        with self._lock:
            if (
                oid in self._pending
                or time.monotonic() - self._failed.get(oid, -RETRY_AFTER_SECONDS) < RETRY_AFTER_SECONDS
            ):
                return False
            self._pending.add(oid)
            self._queue.put((repo_pk, oid))
            if self._thread is None or not self._thread.is_alive():
                # A daemon thread: an unfinished conversion never holds the process at exit.
                self._thread = threading.Thread(target=self._run, name="modelyard-xet-convert", daemon=True)
                self._thread.start()
        return True

    def _run(self) -> None:
        while True:
            repo_pk, oid = self._queue.get()
            try:
                self.convert(repo_pk, oid)
            except Exception as error:  # best effort: logged, retried after RETRY_AFTER_SECONDS
                if not self._still_wanted(repo_pk, oid):  # the repository (or the blob) went away meanwhile
                    log.debug("Dropped the Xet conversion of %s: its repository or blob is gone", oid)
                    continue
                with self._lock:
                    self._failed[oid] = time.monotonic()
                log.warning("Converting LFS object %s to Xet failed: %s", oid, error)
            finally:
                with self._lock:
                    self._pending.discard(oid)

    def _still_wanted(self, repo_pk: int, oid: str) -> bool:
        with self.hub.db.session() as session:
            linked = session.scalar(select(Repo.id).where(Repo.id == repo_pk))
        return linked is not None and self.hub.blobs.size(oid) is not None

    def _withdraw_if_deleted(self, repo_pk: int, oid: str) -> None:
        """Registering the conversion through the CAS recorded a claim of `oid` for the repository, as any upload
        does. If the object was permanently deleted from the repository meanwhile, that claim must not bring it
        back: withdraw it (the verified Xet copy stays, for the other repositories that uploaded the object)."""
        with self.hub.db.session() as session:
            uploaded = session.scalar(
                select(LfsObject.oid).where(
                    LfsObject.repo_id == repo_pk, LfsObject.oid == oid, LfsObject.source == xet.UPLOADED
                )
            )
            if uploaded is None:
                lfs_files.unlink(session, repo_pk, [oid])

    def _xet_session(self, hf_xet: Any) -> Any:
        if self._session is None:
            config = hf_xet.XetConfig().with_config(
                {
                    "telemetry.enabled": False,
                    "client.retry_max_attempts": 3,
                    "client.retry_base_delay": datetime.timedelta(seconds=1),
                    "client.connect_timeout": datetime.timedelta(seconds=10),
                }
            )
            self._session = hf_xet.XetSession(config)
        return self._session

    def convert(self, repo_pk: int, oid: str) -> str | None:
        """Convert one blob; returns the Xet file hash (None when there was nothing to do)."""
        hub = self.hub
        if xet.has_verified_file(hub, oid):
            return None  # converted before: every repository linking the object can use that copy
        size = hub.blobs.size(oid)
        hf_xet = _hf_xet()
        if size is None or size == 0 or hf_xet is None:
            return None
        started = time.monotonic()
        token, expires = xet_tokens.issue_token(hub, repo_pk, xet_tokens.WRITE, grants.SERVER)
        session = self._xet_session(hf_xet)
        endpoint = internal_cas_url(hub.settings)
        with session.new_upload_commit(endpoint=endpoint, token=token, token_expiry_unix_secs=expires) as commit:
            upload = commit.start_upload_file(str(hub.blobs.path(oid)), sha256=oid)
        file_hash = upload.result().xet_info.hash
        record = xet.load_file(hub, file_hash)
        if record is None or record.size != size:
            raise RuntimeError(f"the CAS did not register Xet file {file_hash} of {size} bytes")
        actual = xet_read.file_sha256(hub, record)
        if actual != oid:
            raise RuntimeError(f"Xet file {file_hash} reconstructs to sha256 {actual}, not {oid}")
        xet.mark_verified(hub, file_hash, oid)
        self._withdraw_if_deleted(repo_pk, oid)
        log.info("Converted LFS object %s (%d bytes) to Xet file %s in %.1fs", oid, size, file_hash,
                 time.monotonic() - started)  # fmt: skip
        return file_hash


def converter(hub: Hub) -> Converter:
    return hub.component("xet_converter", lambda: Converter(hub))


def schedule(hub: Hub, repo_pk: int, oid: str) -> bool:
    """Queue the conversion of LFS object `oid` (uploaded to `repo_pk`); returns at once."""
    if not hub.settings.xet_convert_lfs or _hf_xet() is None:
        return False
    return converter(hub).schedule(repo_pk, oid)


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
