"""Plain copies of Xet files on disk: a bounded, evictable cache that makes a plain download of a Xet-only file a
file read (`BlobFileResponse`: Range, HEAD, pacing, zero-copy where the server offers it) instead of a
reconstruction from the xorbs in Python.

A copy is written while the file's bytes are rebuilt for a reason that needs them all anyway: hashing a sha256
claim before its first commit (`xet.verify_claims`), so the first download after an upload already finds it; and,
in a background thread, after a plain download missed it (evicted, or never written). Either way the bytes go to a
temp file while they are hashed, and the copy is published (renamed to `<data dir>/xet/plain/<Xet file hash>`) only
when their sha256 equals the file's verified sha256: a copy is never served unless it was hashed first.

The copies take at most `xet_plain_copies_bytes` of disk (0 turns them off); making room for a new copy removes the
least recently used ones (a download marks its copy used). A download that misses is reconstructed as before.
Copies are not fsynced (that would cost each commit a full write to disk): instead, the first start after the
machine rebooted removes them all (`sweep`, called by `leftovers.sweep`), so that a copy cut short by a crash is
never served, and they are rebuilt as downloads miss them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import shutil
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select

from modelyard.blobs.files import remove_stale
from modelyard.db.models import XetFile
from modelyard.services import xet_read
from modelyard.services.hub import Hub
from modelyard.services.xet import XetFileRecord, load_file

log = logging.getLogger(__name__)

# Background rebuilds are niced: serving comes first (Linux applies a thread's own nice value to it alone).
REBUILD_NICENESS = 10
# In the copies' folder, beside them: the boot during which they were written.
BOOT_MARKER = "boot_id"


class PlainCopies:
    """The copies of one data directory: publishing, finding, evicting, and rebuilding after a miss."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.root = hub.settings.data_dir / "xet" / "plain"
        self.tmp_dir = self.root / "tmp"
        self.budget = hub.settings.xet_plain_copies_bytes
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._pending: set[str] = set()
        self._thread: threading.Thread | None = None

    def path(self, file_hash: str) -> Path:
        return self.root / file_hash

    def open_copy(self, record: XetFileRecord) -> BinaryIO | None:
        """The copy of `record` to serve, opened and marked as just used; None when there is none whole (a rebuild
        is queued). Open, it is read whole even if it is evicted meanwhile."""
        try:
            copy = open(self.path(record.hash), "rb")  # noqa: SIM115 - the response that sends it closes it
        except OSError:  # evicted, or something else in its place (a folder): no copy to serve
            copy = None
        if copy is not None:
            if os.fstat(copy.fileno()).st_size == record.size:
                os.utime(copy.fileno())  # the least recently used go first
                return copy
            copy.close()
        self.schedule_rebuild(record)
        return None

    def _intact(self, record: XetFileRecord) -> bool:
        """Whether the copy of `record` is there, whole (a copy is published whole, but a disk can lose it)."""
        try:
            return self.path(record.hash).stat().st_size == record.size
        except FileNotFoundError:
            return False

    def fits(self, size: int) -> bool:
        return 0 < size <= self.budget

    def hash_and_keep(self, record: XetFileRecord, expected: str | None) -> str:
        """The sha256 of the file's bytes, rebuilt once; they are kept as its copy when it equals `expected`
        (None: the file's verified sha256) and the copy fits the budget. Keeping is best effort: a full disk or
        a removed temp file costs the copy, never the hash."""
        digest = hashlib.sha256()
        temp = self._temp_file() if self.fits(record.size) else None
        try:
            # Writing a piece to the copy costs as much as hashing it, or more (new page-cache pages): it runs in
            # a thread of its own, beside the hash of the same piece and the read of the next, so that a commit
            # waits for the longer of the two rather than their sum (docs/performance.md, "Uploads").
            with ThreadPoolExecutor(1, thread_name_prefix="plain-copy") as writer:
                writing: Future[BinaryIO | None] | None = None
                for piece in xet_read.iter_file_bytes(self.hub, record, 0, record.size):
                    if writing is not None:
                        temp = writing.result()  # one write at a time, in order
                    if temp is not None:
                        writing = writer.submit(_write_or_drop, temp, piece)
                    digest.update(piece)
                if writing is not None:
                    temp = writing.result()
            actual = digest.hexdigest()
            if temp is not None and actual == (expected or _verified_sha256(self.hub, record.hash)):
                temp.close()
                self._publish(Path(temp.name), record)
            return actual
        finally:
            if temp is not None:
                temp.close()
                Path(temp.name).unlink(missing_ok=True)

    def _temp_file(self) -> BinaryIO | None:
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            return tempfile.NamedTemporaryFile(dir=self.tmp_dir, delete=False)
        except OSError as error:
            log.warning("No plain copy of a Xet file: %s", error)
            return None

    def _publish(self, temp: Path, record: XetFileRecord) -> None:
        with self._lock:
            try:
                self._make_room(record.size)
                os.replace(temp, self.path(record.hash))
            except OSError as error:  # e.g. another process's start-up removed the temp file
                log.warning("No plain copy of Xet file %s: %s", record.hash, error)

    def _make_room(self, size: int) -> None:
        """Remove the least recently used copies until `size` more bytes fit the budget. A download already
        sending a removed copy keeps reading it (its file stays open)."""
        copies = []
        for entry in os.scandir(self.root):
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file(follow_symlinks=False) and entry.name != BOOT_MARKER:
                    stat = entry.stat(follow_symlinks=False)
                    copies.append((stat.st_mtime, stat.st_size, entry.path))
        used = sum(copy_size for _, copy_size, _ in copies)
        for _, copy_size, path in sorted(copies):
            if used + size <= self.budget:
                return
            Path(path).unlink(missing_ok=True)
            used -= copy_size

    def schedule_rebuild(self, record: XetFileRecord) -> None:
        """Rebuild the copy of `record` in the background, once, if it fits the budget."""
        if not self.fits(record.size):
            return
        with self._lock:
            if record.hash in self._pending:
                return
            self._pending.add(record.hash)
            self._queue.put(record.hash)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._rebuild_forever, name="modelyard-xet-copies", daemon=True)
                self._thread.start()

    def _rebuild_forever(self) -> None:
        with contextlib.suppress(OSError):  # not permitted everywhere; the rebuild then runs at normal priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), REBUILD_NICENESS)
        while True:
            file_hash = self._queue.get()
            try:
                record = load_file(self.hub, file_hash)
                if record is not None and not self._intact(record):
                    self.hash_and_keep(record, None)
            except Exception as error:  # best effort: downloads are reconstructed meanwhile
                log.warning("Rebuilding the plain copy of Xet file %s failed: %s", file_hash, error)
            finally:
                with self._lock:
                    self._pending.discard(file_hash)

    def sweep(self, max_age: float) -> int:
        """At start-up: temp files untouched for `max_age` seconds (a crashed process's), and every copy if the
        machine restarted since they were written (they are not fsynced: a crash may have cut one short under its
        final name); returns how many went. A process that merely restarted finds the copies whole in the page
        cache, and other live processes on the data dir keep theirs."""
        marker = self.root / BOOT_MARKER
        booted = _boot_id()
        with contextlib.suppress(OSError):
            if booted is not None and marker.read_text() == booted:
                return remove_stale(self.tmp_dir, max_age)
        removed = 0
        if self.root.is_dir():
            removed = sum(1 for entry in self.root.iterdir() if entry.is_file() and entry != marker)
            removed += sum(1 for _ in self.tmp_dir.glob("*"))
            shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        marker.write_text(booted or "")
        return removed


def _boot_id() -> str | None:
    """This boot's identity (Linux); None elsewhere, where every start counts as a reboot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _write_or_drop(temp: BinaryIO, piece: memoryview) -> BinaryIO | None:
    try:
        temp.write(piece)
        return temp
    except OSError as error:
        log.warning("No plain copy of a Xet file: %s", error)
        temp.close()
        Path(temp.name).unlink(missing_ok=True)
        return None


def _verified_sha256(hub: Hub, file_hash: str) -> str | None:
    with hub.db.session() as session:
        return session.scalar(select(XetFile.verified_sha256).where(XetFile.hash == file_hash))


def copies(hub: Hub) -> PlainCopies:
    return hub.component("xet_plain_copies", lambda: PlainCopies(hub))
