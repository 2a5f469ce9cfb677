"""What the content-addressed stores share: upload temp files, the atomic publish step, ranged reads."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import mmap
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from modelyard.domain.errors import BadRequest, TooLarge

READ_CHUNK = 1024 * 1024


class HashMismatch(BadRequest):
    """Uploaded bytes that are not what the client announced (their sha256 or their size)."""


# Bytes written to an upload's file between two requests to the kernel to start writing them to disk.
WRITEBACK_EVERY = 16 * 1024 * 1024
_SYNC_FILE_RANGE_WRITE = 2


def _sync_file_range() -> Callable[..., int] | None:
    """Linux's sync_file_range(2), which Python's os module lacks; None elsewhere."""
    try:
        function = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).sync_file_range
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    return function


_SYNC_FILE_RANGE = _sync_file_range()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Have the kernel start writing a range of a file to disk now, without waiting for it (SYNC_FILE_RANGE_WRITE).

    An upload's one fsync at the end then has little left to write: on this project's test machine, fsyncing 1 GiB
    written this way took 0.04 s instead of 0.25-0.45 s (docs/performance.md, "Uploads"). Durability still comes from
    that fsync alone; this only moves the disk's work earlier, while the rest of the body arrives. A no-op where the
    call is missing.
    """
    if _SYNC_FILE_RANGE is not None and length > 0:
        _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def sharded_path(root: Path, name: str) -> Path:
    """`root/ab/cd/abcd…`: keeps directories small however many objects there are."""
    return root / name[:2] / name[2:4] / name


class TempFile:
    """A temporary file receiving one upload body; refuses to grow past `max_size`."""

    def __init__(self, directory: Path, max_size: int, what: str = "File") -> None:
        fd, name = tempfile.mkstemp(dir=directory, prefix="tmp-")
        self._file = os.fdopen(fd, "wb")
        self.path = Path(name)
        self.max_size = max_size
        self._what = what
        self.size = 0
        self._written_back = 0

    def write(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        if self.size > self.max_size:
            raise TooLarge(f"{self._what} is larger than the limit of {self.max_size} bytes")
        self._file.write(data)
        if self.size - self._written_back >= WRITEBACK_EVERY:
            self._file.flush()
            start_writeback(self._file.fileno(), self._written_back, self.size - self._written_back)
            self._written_back = self.size

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


class HashingFile(TempFile):
    """A TempFile that also computes the sha256 of what is written to it."""

    def __init__(self, directory: Path, max_size: int, what: str = "File") -> None:
        super().__init__(directory, max_size, what)
        self._sha256 = hashlib.sha256()

    def write(self, data: bytes | memoryview) -> None:
        super().write(data)
        self._sha256.update(data)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()


def publish(temp_path: Path, final: Path) -> bool:
    """Rename a synced temp file into place, write-once; False when `final` already existed."""
    if final.exists():
        return False  # identical content is already there
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temp_path, final)
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def read_range(path: Path, start: int, end: int | None = None) -> Iterator[bytes]:
    """Bytes `[start, end)` of a file (to its end when `end` is None), in pieces of at most READ_CHUNK."""
    with open(path, "rb") as file:
        file.seek(start)
        remaining = (end if end is not None else os.fstat(file.fileno()).st_size) - start
        while remaining > 0:
            data = file.read(min(READ_CHUNK, remaining))
            if not data:
                return
            remaining -= len(data)
            yield data


def remove_stale(directory: Path, max_age: float) -> int:
    """Remove what a crash left in an upload directory: each file, or folder (a multipart upload's parts),
    untouched for `max_age` seconds. Something written to more recently is a live upload, maybe another
    process's, and stays. Returns how many entries went."""
    return remove_stale_entries(list(directory.iterdir()) if directory.is_dir() else [], max_age)


def remove_stale_entries(entries: Iterable[Path], max_age: float) -> int:
    """Remove each of `entries` (a file, or a folder with everything in it) untouched for `max_age` seconds."""
    cutoff = time.time() - max_age
    removed = 0
    for entry in entries:
        try:
            if _newest_mtime(entry) >= cutoff:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
        except FileNotFoundError:
            continue  # another process swept it first
    return removed


def _newest_mtime(path: Path) -> float:
    newest = path.stat().st_mtime
    if path.is_dir():
        for child in path.rglob("*"):
            newest = max(newest, child.stat().st_mtime)
    return newest
