"""Xorb and shard storage on the local file system, content-addressed by hash.

Same discipline as the LFS blob store: an upload is streamed to a temporary file with a size limit,
fsynced, verified (for a xorb: parsed and its Merkle hash recomputed, see `services.xet`), then renamed
into place. A reader never sees a partial object, and objects are write-once.

Layout under `root`: `xorbs/ab/cd/<xorb hash>` (the chunk records exactly as uploaded, without any
footer), `shards/ab/cd/<sha256 of the body>` (accepted upload shards, kept for provenance and reindexing),
`tmp/` (uploads in progress).
"""

from __future__ import annotations

import hashlib
import mmap
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from modelyard.domain.errors import BadRequest, TooLarge

READ_CHUNK = 1024 * 1024
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class UploadFile:
    """A temporary file receiving one upload body; refuses to grow past `max_size`."""

    def __init__(self, directory: Path, max_size: int, what: str) -> None:
        fd, name = tempfile.mkstemp(dir=directory, prefix="tmp-")
        self._file = os.fdopen(fd, "wb")
        self.path = Path(name)
        self._max_size = max_size
        self._what = what
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self._max_size:
            raise TooLarge(f"{self._what} is larger than the limit of {self._max_size} bytes")
        self._file.write(data)

    def close_synced(self, keep: int | None = None) -> None:
        """Flush, drop anything past `keep` bytes (a xorb footer), and fsync."""
        self._file.flush()
        if keep is not None and keep < self.size:
            self._file.truncate(keep)
            self.size = keep
        os.fsync(self._file.fileno())
        self._file.close()

    @contextmanager
    def mapped(self) -> Iterator[memoryview]:
        """The bytes written so far, memory-mapped read-only (no copy in the Python heap)."""
        self._file.flush()
        if self.size == 0:
            yield memoryview(b"")
            return
        with open(self.path, "rb") as file:
            mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
            view = memoryview(mapped)
            try:
                yield view
            finally:
                try:
                    view.release()
                    mapped.close()
                except BufferError:
                    pass  # slices are still referenced (an error's traceback): unmapped when they are collected

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


class XorbStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.xorbs_dir = root / "xorbs"
        self.shards_dir = root / "shards"
        self.tmp_dir = root / "tmp"
        for directory in (self.xorbs_dir, self.shards_dir, self.tmp_dir):
            directory.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _check(name: str) -> str:
        if not _HEX64.match(name):
            raise BadRequest(f"Invalid object name {name!r}: expected 64 lowercase hexadecimal characters")
        return name

    def xorb_path(self, xorb_hash: str) -> Path:
        name = self._check(xorb_hash)
        return self.xorbs_dir / name[:2] / name[2:4] / name

    def shard_path(self, sha256: str) -> Path:
        name = self._check(sha256)
        return self.shards_dir / name[:2] / name[2:4] / name

    def xorb_size(self, xorb_hash: str) -> int | None:
        try:
            return self.xorb_path(xorb_hash).stat().st_size
        except FileNotFoundError:
            return None

    def upload_file(self, max_size: int, what: str) -> UploadFile:
        return UploadFile(self.tmp_dir, max_size, what)

    def publish_xorb(self, upload: UploadFile, xorb_hash: str) -> bool:
        """Move a verified, synced upload into place; False when the xorb was already stored."""
        return _publish(upload.path, self.xorb_path(xorb_hash))

    def publish_shard(self, body: bytes) -> str:
        """Store an accepted shard body (write-once); returns its sha256."""
        digest = hashlib.sha256(body).hexdigest()
        final = self.shard_path(digest)
        if final.exists():
            return digest
        upload = self.upload_file(len(body), "Shard")
        try:
            upload.write(body)
            upload.close_synced()
            _publish(upload.path, final)
        finally:
            upload.discard()
        return digest

    def read_xorb(self, xorb_hash: str, start: int, end: int) -> bytes:
        """Bytes `[start, end)` of a stored xorb (the caller keeps ranges small)."""
        with open(self.xorb_path(xorb_hash), "rb") as file:
            file.seek(start)
            data = file.read(end - start)
        if len(data) != end - start:
            raise OSError(f"xorb {xorb_hash} is shorter than the indexed range {start}-{end}")
        return data

    def iter_xorb(self, xorb_hash: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes `[start, end)` of a stored xorb, in pieces of at most READ_CHUNK."""
        with open(self.xorb_path(xorb_hash), "rb") as file:
            file.seek(start)
            remaining = end - start
            while remaining > 0:
                data = file.read(min(READ_CHUNK, remaining))
                if not data:
                    return
                remaining -= len(data)
                yield data


def _publish(temp_path: Path, final: Path) -> bool:
    if final.exists():
        return False  # write-once: identical content is already there
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temp_path, final)
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return True
