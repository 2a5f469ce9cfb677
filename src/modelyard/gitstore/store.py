"""Where bare repositories live on disk, and how refs move: by compare-and-swap under a lock."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pygit2

from modelyard.gitstore.repository import GitRepository


class GitStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, storage_key: str) -> Path:
        return self.root / storage_key[:2] / f"{storage_key}.git"

    @staticmethod
    def new_key() -> str:
        return uuid.uuid4().hex

    def create(self, storage_key: str) -> GitRepository:
        path = self.path(storage_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
        # Lets `git http-backend` and plain `git` serve the repository as it is.
        repo.config["http.receivepack"] = True
        # git itself (receive-pack, gc) then creates files 0600 and directories 0700 whatever the umask of whoever
        # runs it; libgit2 ignores the setting, the server's umask covers it (see private_files.py).
        repo.config["core.sharedRepository"] = "0600"
        return GitRepository(repo, path)

    def open(self, storage_key: str) -> GitRepository:
        path = self.path(storage_key)
        return GitRepository(pygit2.Repository(str(path)), path)

    def delete(self, storage_key: str) -> None:
        path = self.path(storage_key)
        if not path.exists():
            return
        # Rename first so a half-deleted directory is never mistaken for a repository.
        trash = path.with_name(f"{path.name}.deleted-{uuid.uuid4().hex}")
        os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
