"""The writer lock of a repository: one writer at a time, across threads and processes on one data directory.

It is an `flock` on a file in the repository's directory. The kernel releases it when the holding process dies,
so a crash can never leave it held. flock locks belong to an open file description, not to a process: a child
that inherited the descriptor can take the lock for everyone who shares it, which is how `git receive-pack`'s
pre-receive hook takes the lock on the server's behalf (see docs/architecture.md).

flock has no timeout of its own, so a waiter polls with a short, growing pause; threads of one process first
queue on an in-process lock, so that only one of them polls.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FIRST_PAUSE_SECONDS = 0.002
LONGEST_PAUSE_SECONDS = 0.05


class LockTimeout(Exception):
    """The lock stayed held by someone else for longer than the caller was willing to wait."""


class LockHandle:
    """An open descriptor on a lock file. Every process holding a copy of it shares one lock state."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def open(cls, path: Path) -> LockHandle:
        return cls(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644))

    def acquire(self, timeout: float) -> None:
        """Take the lock exclusively, waiting at most `timeout` seconds; raise LockTimeout past that."""
        deadline = time.monotonic() + timeout
        pause = FIRST_PAUSE_SECONDS
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LockTimeout(f"still locked after {timeout:g} seconds") from None
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, LONGEST_PAUSE_SECONDS)

    def close(self) -> None:
        """Release the lock (for every process sharing this descriptor) and close it."""
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            os.close(self.fd)


_queues: dict[Path, threading.Lock] = {}
_queues_guard = threading.Lock()


def _queue(path: Path) -> threading.Lock:
    with _queues_guard:
        return _queues.setdefault(path, threading.Lock())


@contextmanager
def exclusive(path: Path, timeout: float) -> Iterator[None]:
    """Hold the lock file `path` for the block; LockTimeout if it cannot be had within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    queue = _queue(path)
    if not queue.acquire(timeout=timeout):
        raise LockTimeout(f"still locked after {timeout:g} seconds")
    try:
        handle = LockHandle.open(path)
        try:
            handle.acquire(max(0.0, deadline - time.monotonic()))
            yield
        finally:
            handle.close()
    finally:
        queue.release()
