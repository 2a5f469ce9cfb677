"""`modelyard admin fsck`: re-hash what every LFS pointer at every ref resolves to.

For each repository, each ref (branches, tags, refs/pr/*, refs/convert/*) and each LFS pointer in the ref's
tree, the object is located exactly as downloads locate it (`lfs.locate`): the LFS blob plain HTTP serves,
and the Xet file hf_xet reconstructs. Each of those is read back and hashed; any that is missing, of the
wrong size, unreadable or with another sha256 than the pointer's oid is a problem. Each blob and Xet file
is hashed once per run, however many pointers name it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import select

from modelyard.db.models import Repo
from modelyard.domain.errors import HubError
from modelyard.domain.lfs_pointer import LfsPointer
from modelyard.services import lfs, xet, xet_read
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord, open_git


@dataclass(frozen=True)
class Problem:
    repo: str  # [datasets/|spaces/]namespace/name
    ref: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.repo} {self.ref} {self.path}: {self.message}"


@dataclass
class Report:
    repos: int = 0
    refs: int = 0
    pointers: int = 0
    hashed_bytes: int = 0
    problems: list[Problem] = field(default_factory=list)


def check(hub: Hub, repo_pk: int | None = None, on_problem: Callable[[Problem], None] | None = None) -> Report:
    """Check every repository (or only `repo_pk`); `on_problem` is called as each problem is found."""
    report = Report()
    hashes = _Hashes(hub, report)
    for record in _records(hub, repo_pk):
        report.repos += 1
        for problem in _check_repo(hub, record, hashes, report):
            report.problems.append(problem)
            if on_problem is not None:
                on_problem(problem)
    return report


def _records(hub: Hub, repo_pk: int | None) -> list[RepoRecord]:
    with hub.db.session() as session:
        query = select(Repo).order_by(Repo.id)
        if repo_pk is not None:
            query = query.where(Repo.id == repo_pk)
        return [RepoRecord.of(row) for row in session.scalars(query)]


def _check_repo(hub: Hub, record: RepoRecord, hashes: _Hashes, report: Report) -> Iterator[Problem]:
    name = f"{record.ref.type.url_prefix}{record.ref.id}"
    git = open_git(hub, record)
    pointers: list[tuple[str, str, LfsPointer]] = []
    for ref, commit in git.refs():
        report.refs += 1
        pointers.extend((ref, entry.path, entry.lfs) for entry in git.files(commit) if entry.lfs is not None)
    report.pointers += len(pointers)
    located = lfs.locate(hub, record.pk, {pointer.oid for _, _, pointer in pointers}, hash_claims=True)
    for ref, path, pointer in pointers:
        for message in _content_problems(pointer, located.get(pointer.oid), hashes):
            yield Problem(name, ref, path, message)


def _content_problems(pointer: LfsPointer, content: lfs.Content | None, hashes: _Hashes) -> Iterator[str]:
    oid = pointer.oid
    if content is None:
        yield f"sha256 {oid} is not stored for this repository (downloads answer 404)"
        return
    if content.size != pointer.size:
        yield f"sha256 {oid}: the pointer says {pointer.size} bytes, the stored object has {content.size}"
    if content.blob:
        actual = hashes.blob(oid)
        if actual != oid:
            yield f"sha256 {oid}: the LFS blob {_describe(actual)}"
    if content.xet is not None:
        actual = hashes.xet_file(content.xet.hash)
        if actual != oid:
            yield f"sha256 {oid}: Xet file {content.xet.hash} {_describe(actual)}"


def _describe(actual: str) -> str:
    return actual if actual.startswith("cannot") else f"holds bytes with sha256 {actual}"


class _Hashes:
    """sha256 of each blob and Xet file read back, computed once per run (or why it cannot be read)."""

    def __init__(self, hub: Hub, report: Report) -> None:
        self.hub = hub
        self.report = report
        self.blobs: dict[str, str] = {}
        self.files: dict[str, str] = {}

    def blob(self, oid: str) -> str:
        if oid not in self.blobs:
            self.blobs[oid] = self._read(lambda: _blob_sha256(self.hub, oid))
        return self.blobs[oid]

    def xet_file(self, file_hash: str) -> str:
        if file_hash not in self.files:
            self.files[file_hash] = self._read(lambda: _xet_sha256(self.hub, file_hash))
        return self.files[file_hash]

    def _read(self, digest: Callable[[], tuple[str, int]]) -> str:
        try:
            sha256, size = digest()
        except (OSError, ValueError, HubError) as error:
            return f"cannot be read: {error}"
        self.report.hashed_bytes += size
        return sha256


def _blob_sha256(hub: Hub, oid: str) -> tuple[str, int]:
    with hub.blobs.path(oid).open("rb") as blob:
        return hashlib.file_digest(blob, "sha256").hexdigest(), blob.tell()


def _xet_sha256(hub: Hub, file_hash: str) -> tuple[str, int]:
    record = xet.load_file(hub, file_hash)
    if record is None:
        raise ValueError(f"Xet file {file_hash} is not registered")
    return xet_read.file_sha256(hub, record), record.size
