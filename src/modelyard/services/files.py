"""Reading a repository at a revision: info, listings, file metadata and content."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelyard.domain.cards import CARD_PATH, lenient_front_matter
from modelyard.domain.errors import EntryNotFound
from modelyard.domain.paths import validate_repo_path
from modelyard.gitstore.repository import CommitInfo, Entry, GitRepository
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord, open_git

# Cards larger than this are not parsed for metadata in listings.
MAX_CARD_SIZE = 1024 * 1024


@dataclass(frozen=True)
class Snapshot:
    """A repository pinned at one commit."""

    record: RepoRecord
    git: GitRepository
    commit: str

    def card(self) -> dict[str, Any]:
        entry = self.git.entry(self.commit, CARD_PATH)
        if entry is None or entry.type != "file" or entry.lfs is not None or entry.size > MAX_CARD_SIZE:
            return {}
        return lenient_front_matter(self.git.read_blob(entry.oid).decode("utf-8", errors="replace"))

    def last_commit(self) -> CommitInfo:
        return self.git.commit(self.commit)


def snapshot(hub: Hub, record: RepoRecord, revision: str) -> Snapshot:
    git = open_git(hub, record)
    return Snapshot(record, git, git.resolve(revision))


def list_tree(snap: Snapshot, path: str, recursive: bool) -> list[Entry]:
    if path:
        validate_repo_path(path.rstrip("/"))
        entry = snap.git.entry(snap.commit, path.rstrip("/"))
        if entry is None or entry.type != "directory":
            raise EntryNotFound(f"{path} does not exist on {snap.commit} or is not a folder", snap.commit)
    return list(snap.git.list(snap.commit, path.rstrip("/"), recursive))


def paths_info(snap: Snapshot, paths: list[str]) -> list[Entry]:
    """Entries of the paths that exist; missing ones are left out, as the Hub does."""
    result = []
    for path in paths:
        clean = path.strip("/")
        if not clean:
            continue
        validate_repo_path(clean)
        entry = snap.git.entry(snap.commit, clean)
        if entry is not None:
            result.append(entry)
    return result


def file_entry(snap: Snapshot, path: str) -> Entry:
    validate_repo_path(path)
    entry = snap.git.entry(snap.commit, path)
    if entry is None or entry.type != "file":
        raise EntryNotFound(f"{path} does not exist at revision {snap.commit}", snap.commit)
    return entry
