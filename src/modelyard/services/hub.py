"""The wiring every service works with: settings, the database, git and blob storage."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from modelyard.blobs.local import LocalBlobStore
from modelyard.config import Settings
from modelyard.db.database import Database
from modelyard.gitstore.store import GitStore
from modelyard.private_files import private_data_dir

T = TypeVar("T")


@dataclass
class Hub:
    settings: Settings
    db: Database
    git: GitStore
    blobs: LocalBlobStore
    _components: dict[str, Any] = field(default_factory=dict, repr=False)
    _components_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def component(self, name: str, factory: Callable[[], T]) -> T:
        """A per-hub singleton made on first use: caches, background workers."""
        with self._components_lock:
            if name not in self._components:
                self._components[name] = factory()
            return self._components[name]

    @classmethod
    def open(cls, settings: Settings, migrate: bool = True) -> Hub:
        private_data_dir(settings.data_dir)
        db = Database(settings.effective_database_url)
        db.make_private()
        if migrate:
            db.migrate()
        return cls(
            settings=settings,
            db=db,
            git=GitStore(settings.data_dir / "git", settings.repo_lock_timeout_seconds),
            blobs=LocalBlobStore(settings.data_dir / "lfs"),
        )
