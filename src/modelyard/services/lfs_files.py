"""A repository's LFS objects, as `list_lfs_files` shows them, and their permanent deletion (hub-api §4.7).

A repository may reference the objects it uploaded (lfs_objects rows) or claimed through Xet (xet_repo_files).
Deleting one removes both, so no commit or push of this repository can reference it again, and removes the
LFS blob from storage once no repository has uploaded it. (Xorbs are shared by chunk and are not collected
here.) An object still used by a file at the head of a branch is refused: those
files would break. Callers have checked Action.WRITE.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from modelyard.db.models import LfsObject, XetRepoFile
from modelyard.domain.errors import BadRequest, Conflict
from modelyard.domain.lfs_pointer import is_sha256
from modelyard.gitstore.repository import Entry
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord, open_git, touch
from modelyard.services.xet import UPLOADED


@dataclass(frozen=True)
class LfsFile:
    sha256: str
    size: int
    pushed_at: datetime
    path: str | None  # a file that uses it at the head of `ref`, if any
    ref: str | None
    pointer_oid: str | None  # the git blob of that file's pointer


def list_lfs_files(hub: Hub, record: RepoRecord) -> list[LfsFile]:
    with hub.db.session() as session:
        rows = session.execute(
            select(LfsObject.oid, LfsObject.size, LfsObject.pushed_at)
            .where(LfsObject.repo_id == record.pk)
            .order_by(LfsObject.pushed_at, LfsObject.oid)
        ).all()
    used = _used_at_heads(hub, record)
    files = []
    for oid, size, pushed_at in rows:
        ref, entry = used.get(oid, (None, None))
        files.append(LfsFile(oid, size, pushed_at, entry.path if entry else None, ref, entry.oid if entry else None))
    return files


def permanently_delete(hub: Hub, record: RepoRecord, oids: list[str]) -> None:
    for oid in oids:
        if not is_sha256(oid):
            raise BadRequest(f"Invalid LFS file id {oid!r}: expected a sha256 hex digest")
    used = _used_at_heads(hub, record)
    for oid in oids:
        if oid in used:
            ref, entry = used[oid]
            raise Conflict(
                f"LFS file {oid} is still used by {entry.path} at the head of {ref}: delete or replace that file first"
            )
    with hub.db.session() as session:
        unlink(session, record.pk, oids)
        still_used = set(
            session.scalars(
                select(LfsObject.oid).where(LfsObject.oid.in_(oids), LfsObject.source == UPLOADED).distinct()
            )
        )
    # An upload of the same bytes to another repository racing with this finds its blob gone when it
    # commits, and is asked to upload again: nothing committed ever loses its bytes.
    for oid in set(oids) - still_used:
        hub.blobs.delete(oid)
    touch(hub, record)


def unlink(session: Session, repo_pk: int, oids: list[str]) -> None:
    """Forget that the repository uploaded or claimed `oids`: no commit or push of it can reference them again."""
    session.execute(delete(LfsObject).where(LfsObject.repo_id == repo_pk, LfsObject.oid.in_(oids)))
    # Its Xet claims too (from hf_xet uploads or the background conversion): either would let it be used.
    session.execute(delete(XetRepoFile).where(XetRepoFile.repo_id == repo_pk, XetRepoFile.sha256.in_(oids)))


def _used_at_heads(hub: Hub, record: RepoRecord) -> dict[str, tuple[str, Entry]]:
    """sha256 -> (branch ref, file) for every LFS file at the head of a branch."""
    git = open_git(hub, record)
    used: dict[str, tuple[str, Entry]] = {}
    for ref, target in git.refs():
        if ref.startswith("refs/heads/"):
            for entry in git.files(target):
                if entry.lfs is not None:
                    used.setdefault(entry.lfs.oid, (ref, entry))
    return used
