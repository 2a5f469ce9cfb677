"""Multipart LFS uploads on the local file system: every part lands at its offset in one file of the object's size.

An upload (one repository's upload of one object) is a folder holding `data`, the object's bytes, and a marker per
received part, named by its number, which holds the ETag of the part's latest complete write and its length. The
completion checks that every part was received, hashes the file, fsyncs it once and renames it into place: no part
is copied, and the bytes are hashed once.

Hashing once: the sha256 of the object is computed while the parts arrive, in order. huggingface_hub sends its parts
one after the other, from the first: each part continues the hash where the previous one ended (a `Checkpoint`, kept
in this process's memory). The completion then only hashes what no checkpoint covers (parts sent out of order, by
several connections at once, to another server process, or before a restart), reading it back from the file.

A checkpoint names the writes it covers by their ETags; the completion trusts it only if every covered part's marker
still holds that ETag, so a part sent again (with other bytes) since is hashed from the file. File locks keep the
bytes and the hashes in step across threads and processes: one writer per part at a time (the marker's lock), and no
part written while the completion hashes and publishes the file (shared locks on `data` for part writers, an
exclusive one for the completion). A part's marker is emptied before its bytes are written: a write cut off midway
leaves the part "not received".
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.blobs.files import WRITEBACK_EVERY, HashMismatch, publish, start_writeback
from modelyard.domain.errors import BadRequest, Conflict, TooLarge

DATA_NAME = "data"
READ_BACK = 4 * 1024 * 1024  # bytes per read when the completion hashes what no checkpoint covers
MAX_TRACKED_UPLOADS = 256  # checkpoints kept; an upload whose checkpoint was dropped is hashed from its file


@dataclass(frozen=True)
class Checkpoint:
    """The sha256 of an upload's first `position` bytes, as written by the part writes whose ETags are `etags`."""

    position: int
    sha256: Any  # hashlib's sha256 object (no public type)
    etags: tuple[str, ...]


class Checkpoints:
    """The latest checkpoint of each upload in progress in this process (a bounded, least recently used set)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: OrderedDict[str, Checkpoint] = OrderedDict()

    def resume_at(self, upload: str, offset: int) -> Checkpoint | None:
        """Where a part written at `offset` continues the hash from; None when it cannot (the hash is then made
        from the file at completion)."""
        if offset == 0:
            return Checkpoint(0, hashlib.sha256(), ())
        with self._lock:
            latest = self._latest.get(upload)
        return latest if latest is not None and latest.position == offset else None

    def advance(self, upload: str, base: Checkpoint, reached: Checkpoint) -> None:
        """Record `reached`, made by a part written from `base`, unless the checkpoint moved on meanwhile."""
        with self._lock:
            latest = self._latest.get(upload)
            if base.position == 0 or (latest is not None and latest.etags == base.etags):
                self._latest[upload] = reached
                self._latest.move_to_end(upload)
                while len(self._latest) > MAX_TRACKED_UPLOADS:
                    self._latest.popitem(last=False)

    def take(self, upload: str) -> Checkpoint | None:
        with self._lock:
            return self._latest.pop(upload, None)


def _lock(fd: int, mode: int, busy: str) -> None:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        raise Conflict(busy) from None


def _same_file(fd: int, path: Path) -> bool:
    """Whether `fd` is still the file at `path` (a completion renames `data` away once it has published it)."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _open_in(folder: Path, name: str) -> int:
    try:
        return os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:  # a completion removed the folder just now
        raise Conflict("This upload was completed meanwhile") from None


def _read_marker(path: Path) -> tuple[str, int] | None:
    """(ETag, length) of the part's latest complete write, None if it was never received whole."""
    try:
        etag, _, length = path.read_text().partition(" ")
    except FileNotFoundError:
        return None
    return (etag, int(length)) if etag and length.isdigit() else None


class PartWriter:
    """Receives one part into its place in the upload's file, continuing the object's hash when it can; `finish`
    records the part as received and returns its ETag. On any failure the part stays "not received"."""

    def __init__(
        self, folder: Path, upload: str, number: int, offset: int, length: int, total: int, checkpoints: Checkpoints
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._upload, self._number, self._offset, self._length = upload, number, offset, length
        self._checkpoints = checkpoints
        self.size = 0
        self._written_back = 0
        self._marker = self._data = -1
        try:
            self._marker = _open_in(folder, str(number))
            _lock(self._marker, fcntl.LOCK_EX, f"Part {number} of this upload is being received by another request")
            os.ftruncate(self._marker, 0)  # not received until this write completes
            data_path = folder / DATA_NAME
            self._data = _open_in(folder, DATA_NAME)
            _lock(self._data, fcntl.LOCK_SH, "This upload is being completed")
            if not _same_file(self._data, data_path):
                raise Conflict("This upload was completed meanwhile")
            if os.fstat(self._data).st_size < total:
                # The object's length at once, parts land in place; sparse, not allocated (posix_fallocate): a part
                # request that sends nothing must not take the object's whole size of disk until the sweep.
                os.ftruncate(self._data, total)
        except BaseException:
            self.discard()
            raise
        self._base = checkpoints.resume_at(upload, offset)
        self._sha256 = self._base.sha256.copy() if self._base is not None else None

    @property
    def max_size(self) -> int:
        return self._length

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.size + len(data) > self._length:
            raise TooLarge(f"Part {self._number} is larger than its {self._length} bytes")
        view = memoryview(data)
        position = self._offset + self.size
        while view:
            written = os.pwrite(self._data, view, position)
            position += written
            view = view[written:]
        if self._sha256 is not None:
            self._sha256.update(data)
        self.size += len(data)
        if self.size - self._written_back >= WRITEBACK_EVERY or self.size == self._length:
            start_writeback(self._data, self._offset + self._written_back, self.size - self._written_back)
            self._written_back = self.size

    def finish(self) -> str:
        """Record the part as received (no fsync: the completion syncs the whole file once, its bytes already on their
        way to disk, see `start_writeback`); its ETag."""
        try:
            if self.size != self._length:
                raise BadRequest(f"Part {self._number} has {self.size} bytes, not {self._length}")
            etag = secrets.token_hex(16)
            os.pwrite(self._marker, f"{etag} {self.size}".encode(), 0)
            if self._base is not None and self._sha256 is not None:
                reached = Checkpoint(self._offset + self.size, self._sha256, (*self._base.etags, etag))
                self._checkpoints.advance(self._upload, self._base, reached)
            return etag
        finally:
            self.discard()

    def discard(self) -> None:
        """Release the locks (closing the files does); the part's marker stays empty unless `finish` filled it."""
        for fd in (self._data, self._marker):
            if fd >= 0:
                os.close(fd)
        self._data = self._marker = -1


def complete(
    folder: Path, upload: str, oid: str, part_lengths: list[int], final: Path, checkpoints: Checkpoints
) -> None:
    """Check that every part was received, hash the file (from the checkpoint on), fsync it and publish it at `final`
    if its sha256 is `oid`; the upload's folder then goes. Raises BadRequest (or HashMismatch) and leaves the parts
    for another try otherwise."""
    data_path = folder / DATA_NAME
    try:
        fd = os.open(data_path, os.O_RDWR)
    except FileNotFoundError:  # never started, or a concurrent completion published it
        raise BadRequest(f"Part 1 of object {oid} was never uploaded") from None
    try:
        _lock(fd, fcntl.LOCK_EX, "Parts of this upload are still being received")
        if not _same_file(fd, data_path):
            raise BadRequest(f"Object {oid} was completed by another request")
        etags = []
        for number, length in enumerate(part_lengths, start=1):
            marker = _read_marker(folder / str(number))
            if marker is None or marker[1] != length:
                raise BadRequest(f"Part {number} of object {oid} was never uploaded")
            etags.append(marker[0])
        size = sum(part_lengths)
        if os.fstat(fd).st_size != size:
            raise HashMismatch(f"Uploaded content is {os.fstat(fd).st_size} bytes, not the announced {size}")
        digest = _sha256_from(fd, size, _valid_checkpoint(checkpoints.take(upload), etags))
        if digest != oid:
            raise HashMismatch(f"Uploaded content has sha256 {digest}, not the announced {oid}")
        os.fsync(fd)
        publish(data_path, final)
    finally:
        os.close(fd)
    shutil.rmtree(folder, ignore_errors=True)


def _valid_checkpoint(checkpoint: Checkpoint | None, etags: list[str]) -> Checkpoint:
    """The checkpoint if every part it covers still holds the bytes it hashed, else the start of the file."""
    if checkpoint is not None and list(checkpoint.etags) == etags[: len(checkpoint.etags)]:
        return checkpoint
    return Checkpoint(0, hashlib.sha256(), ())


def _sha256_from(fd: int, size: int, checkpoint: Checkpoint) -> str:
    """The sha256 of the file's `size` bytes, reading back only what `checkpoint` does not cover."""
    digest = checkpoint.sha256
    buffer = bytearray(READ_BACK)
    position = checkpoint.position
    while position < size:
        got = os.preadv(fd, [memoryview(buffer)[: min(READ_BACK, size - position)]], position)
        if got <= 0:
            raise HashMismatch(f"Uploaded content ends at byte {position}, before its announced {size}")
        digest.update(memoryview(buffer)[:got])
        position += got
    return digest.hexdigest()
