"""Blob store on the local file system.

A blob is written to a temporary file, fsynced, its sha256 checked, then renamed into place: a reader
never sees a partial blob, and a client's claim about a hash is never trusted.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from modelyard.domain.errors import BadRequest, TooLarge
from modelyard.domain.lfs_pointer import is_sha256

READ_CHUNK = 1024 * 1024


class HashMismatch(BadRequest):
    pass


class HashingFile:
    """A temporary file that hashes what is written to it and refuses to grow past a limit."""

    def __init__(self, directory: Path, max_size: int) -> None:
        fd, name = tempfile.mkstemp(dir=directory, prefix="tmp-")
        self._file = os.fdopen(fd, "wb")
        self.path = Path(name)
        self._sha256 = hashlib.sha256()
        self._max_size = max_size
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self._max_size:
            raise TooLarge(f"File is larger than the limit of {self._max_size} bytes")
        self._sha256.update(data)
        self._file.write(data)

    def close_synced(self) -> str:
        """Flush and fsync; returns the sha256 hex digest of everything written."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return self._sha256.hexdigest()

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


class BlobWriter(HashingFile):
    """Receives the bytes of one blob; `finish` verifies and publishes it."""

    def __init__(self, store: LocalBlobStore, max_size: int) -> None:
        super().__init__(store.tmp_dir, max_size)
        self._store = store

    def finish(self, expected_oid: str, expected_size: int | None = None) -> None:
        """Publish the blob if its content hashes to `expected_oid`; raise HashMismatch otherwise."""
        try:
            actual = self.close_synced()
            if actual != expected_oid:
                raise HashMismatch(f"Uploaded content has sha256 {actual}, not the announced {expected_oid}")
            if expected_size is not None and self.size != expected_size:
                raise HashMismatch(f"Uploaded content is {self.size} bytes, not the announced {expected_size}")
            self._store.publish(self.path, expected_oid)
        finally:
            self.discard()


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects_dir = root / "objects"
        self.tmp_dir = root / "tmp"
        self.parts_dir = root / "multipart"
        for directory in (self.objects_dir, self.tmp_dir, self.parts_dir):
            directory.mkdir(parents=True, exist_ok=True)

    def path(self, oid: str) -> Path:
        if not is_sha256(oid):
            raise BadRequest(f"Invalid object id {oid!r}: expected a sha256 hex digest")
        return self.objects_dir / oid[:2] / oid[2:4] / oid

    def size(self, oid: str) -> int | None:
        """Size of a stored blob, or None when it is not stored."""
        try:
            return self.path(oid).stat().st_size
        except FileNotFoundError:
            return None

    def writer(self, max_size: int) -> BlobWriter:
        return BlobWriter(self, max_size)

    def publish(self, temp_path: Path, oid: str) -> None:
        final = self.path(oid)
        if final.exists():
            return  # write-once: identical content is already there
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp_path, final)
        _fsync_dir(final.parent)

    def read(self, oid: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the bytes of `oid` from `start` to `end` (exclusive) in chunks."""
        with open(self.path(oid), "rb") as file:
            file.seek(start)
            remaining = (end if end is not None else os.fstat(file.fileno()).st_size) - start
            while remaining > 0:
                data = file.read(min(READ_CHUNK, remaining))
                if not data:
                    return
                remaining -= len(data)
                yield data

    # Multipart uploads: each part lands in its own file, the completion joins them into one blob.

    def part_writer(self, oid: str, part_number: int, max_size: int) -> PartWriter:
        return PartWriter(self.parts_dir / self.path(oid).name, part_number, max_size)

    def complete_multipart(self, oid: str, part_numbers: list[int], size: int) -> None:
        upload_dir = self.parts_dir / self.path(oid).name
        writer = self.writer(size)
        try:
            for number in part_numbers:
                part = upload_dir / f"{number}"
                if not part.exists():
                    raise BadRequest(f"Part {number} of object {oid} was never uploaded")
                with open(part, "rb") as file:
                    while data := file.read(READ_CHUNK):
                        writer.write(data)
            writer.finish(oid, size)
        finally:
            writer.discard()
        shutil.rmtree(upload_dir, ignore_errors=True)


class PartWriter(HashingFile):
    """One part of a multipart upload; its sha256 is the part's ETag."""

    def __init__(self, upload_dir: Path, part_number: int, max_size: int) -> None:
        upload_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(upload_dir, max_size)
        self._final = upload_dir / f"{part_number}"

    def finish(self) -> str:
        try:
            digest = self.close_synced()
            os.replace(self.path, self._final)
            return digest
        finally:
            self.discard()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
