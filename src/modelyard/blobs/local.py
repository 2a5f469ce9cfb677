"""Blob store on the local file system.

A blob is written to a temporary file, fsynced, its sha256 checked, then renamed into place: a reader
never sees a partial blob, and a client's claim about a hash is never trusted.
"""

from __future__ import annotations

from pathlib import Path

from modelyard.blobs import multipart
from modelyard.blobs.files import HashingFile, HashMismatch, publish, remove_stale, sharded_path
from modelyard.blobs.multipart import PartWriter
from modelyard.domain.errors import BadRequest
from modelyard.domain.lfs_pointer import is_sha256


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


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects_dir = root / "objects"
        self.tmp_dir = root / "tmp"
        self.parts_dir = root / "multipart"
        for directory in (self.objects_dir, self.tmp_dir, self.parts_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self._checkpoints = multipart.Checkpoints()

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

    # Multipart uploads: every part lands at its offset in one pre-allocated file, which the completion verifies and
    # renames into place (blobs/multipart.py). `upload` names one upload (its repository and object), so that uploads
    # of one object never mix. Parts are `part_size` bytes, the last one what remains of the object's `size`.

    def _upload_dir(self, upload: str, oid: str) -> Path:
        return self.parts_dir / f"{upload}-{self.path(oid).name}"

    def part_writer(self, upload: str, oid: str, part_number: int, part_size: int, size: int) -> PartWriter:
        lengths = _part_lengths(part_size, size)
        if not 1 <= part_number <= len(lengths):
            raise BadRequest(f"Object {oid} has parts 1 to {len(lengths)}, not {part_number}")
        folder = self._upload_dir(upload, oid)
        offset = (part_number - 1) * part_size
        return PartWriter(folder, folder.name, part_number, offset, lengths[part_number - 1], size, self._checkpoints)

    def complete_multipart(self, upload: str, oid: str, part_numbers: list[int], part_size: int, size: int) -> None:
        """Verify and publish an upload whose parts `part_numbers` (all of them, in any order) were received."""
        lengths = _part_lengths(part_size, size)
        if sorted(part_numbers) != list(range(1, len(lengths) + 1)):
            raise BadRequest(f"Object {oid} has parts 1 to {len(lengths)}: the completion must list each once")
        folder = self._upload_dir(upload, oid)
        multipart.complete(folder, folder.name, oid, lengths, self.path(oid), self._checkpoints)


def _part_lengths(part_size: int, size: int) -> list[int]:
    """The length of each part of a `size`-byte object cut into `part_size`-byte parts (the last one shorter)."""
    if part_size <= 0 or size <= 0:
        raise BadRequest("A multipart upload needs a positive part size and object size")
    return [min(part_size, size - start) for start in range(0, size, part_size)]
