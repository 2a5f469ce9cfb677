"""Git pushes: the rules of the commit path, applied to what `git push` brings.

`git receive-pack` receives the objects into a quarantine directory, then runs the pre-receive hook
(`modelyard.gitserve.hook`), which takes the repository's writer lock (`hold_writer_lock`) and calls
`check_push`. Any problem rejects the whole push: no ref moves and the quarantined objects are dropped.
Otherwise receive-pack moves the refs in its own ref transaction, which checks each ref's old value under git's
ref lock, still under the writer lock that API commits take too: a push and an API commit take turns, and a
push based on an old head is refused by git ("fetch first") as a stale parentCommit gets 412 from the API.

The checks are those of API commits (services.commits): valid paths, regular files within
`max_regular_file_size`, LFS pointers within `max_file_size` whose objects were uploaded to this repository,
a README.md whose card metadata is valid (domain.card_metadata, the check of API commits and
/api/validate-yaml), plus the rules of refs: only branches and tags, no `refs/pr/*` or `refs/convert/*`,
and the default branch moves only forward and is never deleted.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import DeltaStatus, FileMode, ObjectType

from modelyard.db.models import Repo
from modelyard.domain.card_metadata import validate_committed_card
from modelyard.domain.cards import CARD_PATH
from modelyard.domain.errors import BadRequest, RepoNotFound, RepositoryBusy
from modelyard.domain.lfs_pointer import MAX_POINTER_SIZE, LfsPointer
from modelyard.domain.paths import validate_repo_path
from modelyard.domain.revisions import DEFAULT_BRANCH, validate_new_ref_name
from modelyard.gitstore.locks import LockHandle, LockTimeout
from modelyard.services import lfs, repo_index
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord

ZERO_ID = "0" * 40
DEFAULT_REF = f"refs/heads/{DEFAULT_BRANCH}"
# Enough to fix everything in one go, few enough to read.
MAX_PROBLEMS = 20
_CHANGED = (DeltaStatus.ADDED, DeltaStatus.MODIFIED, DeltaStatus.TYPECHANGE, DeltaStatus.RENAMED, DeltaStatus.COPIED)


@dataclass(frozen=True)
class RefUpdate:
    """One line of what receive-pack feeds its hooks: a ref moving from `old` to `new` (None: absent)."""

    old: str | None
    new: str | None
    ref: str

    @classmethod
    def parse(cls, line: str) -> RefUpdate:
        old, new, ref = line.split(" ", 2)
        return cls(None if old == ZERO_ID else old, None if new == ZERO_ID else new, ref.strip())


class PushRejected(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_record(hub: Hub, repo_pk: int) -> RepoRecord | None:
    with hub.db.session() as session:
        row = session.get(Repo, repo_pk)
        return None if row is None else RepoRecord.of(row)


def writer_lock(hub: Hub, record: RepoRecord) -> LockHandle:
    """An open descriptor on the repository's writer lock, for receive-pack to inherit (not taken yet)."""
    try:
        return LockHandle.open(hub.git.lock_path(record.storage_key))
    except FileNotFoundError:
        raise RepoNotFound() from None  # deleted meanwhile


def hold_writer_lock(hub: Hub, record: RepoRecord, fd: int, updates: Iterable[RefUpdate]) -> None:
    """Take the writer lock through `fd`, the descriptor of `writer_lock` inherited from the server.

    The lock belongs to the descriptor, which the server and receive-pack hold as well: it stays taken after
    the hook exits, until the server releases it once receive-pack is done and the index is updated.
    """
    try:
        LockHandle(fd).acquire(hub.settings.repo_lock_timeout_seconds)
    except LockTimeout:
        raise RepositoryBusy("the repository is busy with other commits: try the push again") from None
    if not hub.git.path(record.storage_key).exists():  # deleted while the push waited for the lock
        raise RepoNotFound("this repository no longer exists")
    # Under the writer lock, a ref lock file that stays was left by a crashed process: clear it for receive-pack.
    hub.git.open(record.storage_key).clear_stale_ref_locks([update.ref for update in updates])


def open_quarantined(path: Path) -> pygit2.Repository:
    """The repository as a pre-receive hook sees it: its objects plus the push's, still in quarantine.

    git hands hooks the quarantine in GIT_OBJECT_DIRECTORY (the repository's own objects being in
    GIT_ALTERNATE_OBJECT_DIRECTORIES); libgit2 ignores those variables, so they are added as alternates.
    """
    repo = pygit2.Repository(str(path))
    for name in ("GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES"):
        for directory in os.environ.get(name, "").split(os.pathsep):
            if directory and Path(directory).resolve() != (path / "objects").resolve():
                repo.odb.add_disk_alternate(directory)
    return repo


def check_push(hub: Hub, record: RepoRecord, repo: pygit2.Repository, updates: Iterable[RefUpdate]) -> None:
    """Raise PushRejected with every problem (up to MAX_PROBLEMS) of the push `updates` describe."""
    checker = _PushChecker(hub, record, repo)
    for update in updates:
        checker.check_ref(update)
    checker.check_new_commits()
    if checker.problems:
        raise PushRejected(checker.problems[:MAX_PROBLEMS])


def record_push(hub: Hub, record: RepoRecord) -> None:
    """Update the index after refs moved through git: the same step that ends an API commit."""
    repo_index.after_change(hub, record)


class _PushChecker:
    def __init__(self, hub: Hub, record: RepoRecord, repo: pygit2.Repository) -> None:
        self.hub = hub
        self.record = record
        self.repo = repo
        self.problems: list[str] = []
        self.tips: list[pygit2.Oid] = []

    def check_ref(self, update: RefUpdate) -> None:
        ref = update.ref
        if ref.startswith(("refs/pr/", "refs/convert/")):
            self.problems.append(f"{ref}: pull request and conversion refs are managed by the hub, not pushed")
            return
        if ref.startswith("refs/heads/"):
            name, what = ref.removeprefix("refs/heads/"), "branch"
        elif ref.startswith("refs/tags/"):
            name, what = ref.removeprefix("refs/tags/"), "tag"
        else:
            self.problems.append(f"{ref}: only branches (refs/heads/*) and tags (refs/tags/*) can be pushed")
            return
        try:
            validate_new_ref_name(name, what)
        except BadRequest as error:
            self.problems.append(f"{ref}: {error.message}")
            return
        if update.new is None:
            if ref == DEFAULT_REF:
                self.problems.append(f"{ref}: the default branch {DEFAULT_BRANCH} cannot be deleted")
            return
        commit = self._commit(update.new)
        if commit is None:
            self.problems.append(f"{ref}: {update.new} is not a commit; only commits can be pushed")
            return
        if ref == DEFAULT_REF and update.old is not None and not self._fast_forward(update.old, commit.id):
            self.problems.append(
                f"{ref}: non-fast-forward updates of the default branch {DEFAULT_BRANCH} are not allowed "
                "(fetch and merge or rebase first, then push without --force)"
            )
            return
        self.tips.append(commit.id)

    def _commit(self, oid: str) -> pygit2.Commit | None:
        try:
            obj = self.repo.get(oid)
            return None if obj is None else obj.peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            return None

    def _fast_forward(self, old: str, new: pygit2.Oid) -> bool:
        old_commit = self._commit(old)
        return old_commit is not None and (old_commit.id == new or self.repo.descendant_of(new, old_commit.id))

    def _existing_commits(self) -> list[pygit2.Oid]:
        found = []
        for name in self.repo.references:
            try:
                found.append(self.repo.references[name].peel(pygit2.Commit).id)
            except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
                continue  # a ref to a tree or blob, or a dangling symbolic ref: nothing to hide
        return found

    def check_new_commits(self) -> None:
        """Check every file that a commit new to this repository adds or changes."""
        if not self.tips:
            return
        walker = self.repo.walk(None)
        for tip in self.tips:
            walker.push(tip)
        for known in self._existing_commits():
            walker.hide(known)
        seen: set[tuple[str, str]] = set()
        pointers: dict[tuple[str, str], LfsPointer] = {}
        for commit in walker:
            # Against the first parent: what other parents bring is either known or new and checked itself.
            parent = commit.parents[0].tree if commit.parents else None
            diff = parent.diff_to_tree(commit.tree) if parent is not None else commit.tree.diff_to_tree(swap=True)
            for delta in diff.deltas:
                if delta.status not in _CHANGED:
                    continue
                entry = delta.new_file
                key = (entry.path, str(entry.id))
                if key in seen:
                    continue
                seen.add(key)
                pointer = self._check_file(entry.path, entry.id, entry.mode)
                if pointer is not None:
                    pointers[key] = pointer
            if len(self.problems) >= MAX_PROBLEMS:
                return
        self._check_lfs_objects(pointers)

    def _check_file(self, path: str, oid: pygit2.Oid, mode: int) -> LfsPointer | None:
        if mode == FileMode.LINK:
            self.problems.append(f"{path}: symbolic links are not supported; commit the file itself")
            return None
        if mode == FileMode.COMMIT:
            self.problems.append(f"{path}: submodules are not supported")
            return None
        try:
            validate_repo_path(path)
        except BadRequest as error:
            self.problems.append(f"{path}: {error.message}")
            return None
        kind, size = self.repo.odb.read_header(oid)
        if kind != ObjectType.BLOB:
            self.problems.append(f"{path}: not a file")
            return None
        settings = self.hub.settings
        pointer = LfsPointer.decode(self.repo[oid].data) if size <= MAX_POINTER_SIZE else None
        if pointer is None:
            if size > settings.max_file_size:
                self.problems.append(f"{path} is {size} bytes, over the limit of {settings.max_file_size} bytes")
            elif size > settings.max_regular_file_size:
                self.problems.append(
                    f"{path} is {size} bytes: files over {settings.max_regular_file_size} bytes must be stored with "
                    f"git-lfs (git lfs install; git lfs track {path!r}; then commit it again)"
                )
            elif path == CARD_PATH:
                self._check_card(oid)
            return None
        if pointer.size > settings.max_file_size:
            self.problems.append(f"{path} is {pointer.size} bytes, over the limit of {settings.max_file_size} bytes")
            return None
        return pointer

    def _check_card(self, oid: pygit2.Oid) -> None:
        try:
            validate_committed_card(self.repo[oid].data)
        except BadRequest as error:
            self.problems.append(error.message)  # the message of an API commit's 400: it names README.md

    def _check_lfs_objects(self, pointers: dict[tuple[str, str], LfsPointer]) -> None:
        uploaded = lfs.uploaded_sizes(self.hub, self.record, {pointer.oid for pointer in pointers.values()})
        for (path, _), pointer in sorted(pointers.items()):
            stored = uploaded.get(pointer.oid)
            if stored is None:
                self.problems.append(
                    f"{path}: the LFS object {pointer.oid} was never uploaded to this repository "
                    "(is git-lfs installed? `git lfs install`, then `git lfs push --all origin`, and push again)"
                )
            elif stored != pointer.size:
                self.problems.append(
                    f"{path}: the LFS pointer says {pointer.size} bytes, the uploaded object {pointer.oid} "
                    f"has {stored} bytes"
                )


def ref_snapshot(hub: Hub, record: RepoRecord) -> dict[str, str]:
    """Every ref and what it points to, as stored (to tell whether a push moved anything)."""
    repo = hub.git.open(record.storage_key).repo
    return {name: str(repo.references[name].target) for name in repo.references}
