"""Where bare repositories live on disk, who may write to one (its writer lock), and durable git writes."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pygit2
from pygit2.enums import Option

from modelyard.blobs.files import remove_stale_entries
from modelyard.domain.errors import RepoNotFound, RepositoryBusy
from modelyard.gitstore import locks
from modelyard.gitstore.repository import GitRepository

# In the repository's own directory: it goes with the repository, and git ignores files it does not know.
WRITER_LOCK_NAME = "modelyard-writer.lock"
TRASH_MARKER = ".deleted-"
QUARANTINE_PREFIX = "tmp_objdir-incoming-"  # git's name for a push's objects until its hook accepts them


def enable_fsync() -> None:
    """libgit2 fsyncs every object, pack and ref it writes (process-wide), so an acknowledged commit survives
    a power cut. Idempotent."""
    pygit2.option(Option.ENABLE_FSYNC_GITDIR, True)


class GitStore:
    def __init__(self, root: Path, lock_timeout: float = 60.0) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock_timeout = lock_timeout
        enable_fsync()

    def path(self, storage_key: str) -> Path:
        return self.root / storage_key[:2] / f"{storage_key}.git"

    def lock_path(self, storage_key: str) -> Path:
        return self.path(storage_key) / WRITER_LOCK_NAME

    @staticmethod
    def new_key() -> str:
        return uuid.uuid4().hex

    def create(self, storage_key: str) -> None:
        path = self.path(storage_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
        # Lets `git http-backend` and plain `git` serve the repository as it is.
        repo.config["http.receivepack"] = True
        # git itself (receive-pack, gc) then creates files 0600 and directories 0700 whatever the umask of whoever
        # runs it; libgit2 ignores the setting, the server's umask covers it (see private_files.py).
        repo.config["core.sharedRepository"] = "0600"

    def open(self, storage_key: str) -> GitRepository:
        path = self.path(storage_key)
        try:
            return GitRepository(pygit2.Repository(str(path)), path)
        except pygit2.GitError:
            if not path.exists():  # deleted by another request since the database named it
                raise RepoNotFound() from None
            raise

    @contextmanager
    def writing(self, storage_key: str) -> Iterator[GitRepository]:
        """The repository, opened under its writer lock: API commits, ref changes and pushes take turns.

        Waits at most `lock_timeout` seconds for the lock (RepositoryBusy, a 503, past that).
        """
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(locks.exclusive(self.lock_path(storage_key), self.lock_timeout))
            except FileNotFoundError:
                raise RepoNotFound() from None  # deleted meanwhile
            except locks.LockTimeout:
                raise self._busy() from None
            path = self.path(storage_key)
            if not path.exists():  # deleted while this writer waited for the lock (see delete)
                raise RepoNotFound()
            yield GitRepository(pygit2.Repository(str(path)), path, writer=True)

    def _busy(self) -> RepositoryBusy:
        return RepositoryBusy(f"The repository is busy with other commits (waited {self.lock_timeout:g} s): try again")

    def delete(self, storage_key: str) -> None:
        path = self.path(storage_key)
        if not path.exists():
            return
        # Rename first so a half-deleted directory is never mistaken for a repository; under the writer lock, so
        # that a writer in the middle of a commit or push finishes first, and one still waiting finds it gone.
        trash = path.with_name(f"{path.name}{TRASH_MARKER}{uuid.uuid4().hex}")
        try:
            with locks.exclusive(self.lock_path(storage_key), self.lock_timeout):
                os.replace(path, trash)
        except FileNotFoundError:
            return  # deleted meanwhile
        except locks.LockTimeout:
            raise self._busy() from None
        shutil.rmtree(trash, ignore_errors=True)

    def sweep_quarantines(self, max_age: float) -> int:
        """Remove the quarantine directories of pushes that were cut off; returns how many went.

        `git receive-pack` receives a push's objects into `objects/tmp_objdir-incoming-*` and removes it once the
        push is accepted or refused; a receive-pack killed first leaves it behind, with the whole pack it received:
        the server kills it when the client hangs up mid-push (gitserve/process.py), and a crash does too. Only
        those untouched for `max_age` go (their newest file counts): a live push keeps writing into its own, and
        its checks in the pre-receive hook last minutes at most. One listing of `objects/` per repository.
        """
        return remove_stale_entries(self.root.glob(f"*/*.git/objects/{QUARANTINE_PREFIX}*"), max_age)

    def sweep_trash(self) -> int:
        """Finish deleting repositories whose deletion a crash interrupted; returns how many."""
        count = 0
        for trash in self.root.glob(f"*/*.git{TRASH_MARKER}*"):
            shutil.rmtree(trash, ignore_errors=True)
            count += 1
        return count
