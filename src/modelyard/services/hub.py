"""The wiring every service works with: settings, the database, git and blob storage."""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.blobs.local import LocalBlobStore
from modelyard.config import Settings
from modelyard.db.database import Database
from modelyard.gitstore.store import GitStore


@dataclass
class Hub:
    settings: Settings
    db: Database
    git: GitStore
    blobs: LocalBlobStore

    @classmethod
    def open(cls, settings: Settings, migrate: bool = True) -> Hub:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.effective_database_url)
        if migrate:
            db.migrate()
        return cls(
            settings=settings,
            db=db,
            git=GitStore(settings.data_dir / "git"),
            blobs=LocalBlobStore(settings.data_dir / "lfs"),
        )
