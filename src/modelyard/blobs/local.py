"""Blob store on the local file system.

A blob is written to a temporary file, fsynced, its sha256 checked, then renamed into place: a reader
never sees a partial blob, and a client's claim about a hash is never trusted.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from modelyard.blobs.files import HashingFile, publish, read_range, remove_stale, sharded_path
from modelyard.domain.errors import BadRequest
from modelyard.domain.lfs_pointer import is_sha256


class HashMismatch(BadRequest):
    pass


class BlobWriter(HashingFile):
    """Receives the bytes of one blob; `finish` verifies and publishes it."""

    def __init__(self, store: LocalBlobStore, max_size: int) -> None:
        super().__init__(store.tmp_dir, max_size)
        self._store = store

    def finish(self, expected_oid: str, expected_size: int | None = None) -> None:
        """Publish the blob if its content hashes to `expected_oid`; raise HashMismatch otherwise."""
        try:
            self.close_synced()
            if self.sha256 != expected_oid:
                raise HashMismatch(f"Uploaded content has sha256 {self.sha256}, not the announced {expected_oid}")
            if expected_size is not None and self.size != expected_size:
                raise HashMismatch(f"Uploaded content is {self.size} bytes, not the announced {expected_size}")
            publish(self.path, self._store.path(expected_oid))
        finally:
            self.discard()


class PartWriter(HashingFile):
    """One part of a multipart upload; its sha256 is the part's ETag."""

    def __init__(self, upload_dir: Path, part_number: int, max_size: int) -> None:
        upload_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(upload_dir, max_size, "Part")
        self._final = upload_dir / f"{part_number}"

    def finish(self) -> str:
        try:
            self.close_synced()
            os.replace(self.path, self._final)
            return self.sha256
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
        return sharded_path(self.objects_dir, oid)

    def size(self, oid: str) -> int | None:
        """Size of a stored blob, or None when it is not stored."""
        try:
            return self.path(oid).stat().st_size
        except FileNotFoundError:
            return None

    def sweep(self, max_age: float) -> int:
        """Remove temp files and multipart uploads untouched for `max_age` seconds; returns how many."""
        return remove_stale(self.tmp_dir, max_age) + remove_stale(self.parts_dir, max_age)

    def delete(self, oid: str) -> None:
        """Remove a stored blob; the caller made sure nothing references it."""
        self.path(oid).unlink(missing_ok=True)

    def writer(self, max_size: int) -> BlobWriter:
        return BlobWriter(self, max_size)

    # Multipart uploads: each part lands in its own file, the completion joins them into one blob.
    # `upload` names one upload (its repository and object), so that uploads of one object never mix.

    def _upload_dir(self, upload: str, oid: str) -> Path:
        return self.parts_dir / f"{upload}-{self.path(oid).name}"

    def part_writer(self, upload: str, oid: str, part_number: int, max_size: int) -> PartWriter:
        return PartWriter(self._upload_dir(upload, oid), part_number, max_size)

    def complete_multipart(self, upload: str, oid: str, part_numbers: list[int], size: int) -> None:
        upload_dir = self._upload_dir(upload, oid)
        writer = self.writer(size)
        try:
            for number in part_numbers:
                try:
                    for data in read_range(upload_dir / f"{number}", 0):
                        writer.write(data)
                except FileNotFoundError:  # or a concurrent completion of the same upload removed it
                    raise BadRequest(f"Part {number} of object {oid} was never uploaded") from None
            writer.finish(oid, size)
        finally:
            writer.discard()
        shutil.rmtree(upload_dir, ignore_errors=True)
