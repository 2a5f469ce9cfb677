"""One bare repository: revisions, trees, blobs, commits and compare-and-swap ref updates."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pygit2
from pygit2.enums import AttrCheck, ObjectType, SortMode

from modelyard.domain.dates import from_timestamp
from modelyard.domain.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    InvalidPath,
    RepoNotFound,
    RepositoryBusy,
    RevisionNotFound,
    StaleParent,
)
from modelyard.domain.lfs_pointer import MAX_POINTER_SIZE, LfsPointer
from modelyard.domain.revisions import candidate_refs, is_commit_prefix

log = logging.getLogger("modelyard.git")

BLOB_MODE = pygit2.GIT_FILEMODE_BLOB
# git holds a ref's lock file for the few milliseconds of an update; one this old was left by a crash.
STALE_REF_LOCK_SECONDS = 5.0
TREE_MODE = pygit2.GIT_FILEMODE_TREE


@dataclass(frozen=True)
class Entry:
    """A file or folder at some commit, as listings show it."""

    path: str
    type: str  # "file" or "directory"
    oid: str  # git blob or tree sha1
    size: int = 0  # real content size (the LFS object's size for pointers)
    lfs: LfsPointer | None = None
    pointer_size: int = 0


@dataclass(frozen=True)
class CommitInfo:
    id: str
    title: str
    message: str
    author: str
    author_email: str
    date: datetime
    parents: tuple[str, ...]


class GitRepository:
    def __init__(self, repo: pygit2.Repository, path: Path, writer: bool = False) -> None:
        self.repo = repo
        self.path = path
        self.writer = writer  # opened under the repository's writer lock: may move refs

    # Revisions and refs

    def resolve(self, revision: str) -> str:
        """The commit id a branch, tag, full ref or (short) commit id names."""
        for ref_name in candidate_refs(revision):
            ref = self._reference(ref_name)
            if ref is not None:
                return str(ref.peel(pygit2.Commit).id)
        if is_commit_prefix(revision):
            try:
                obj = self.repo.get(revision) if len(revision) == 40 else self.repo[revision]
            except (KeyError, ValueError):
                obj = None
            if isinstance(obj, pygit2.Commit):
                return str(obj.id)
        raise RevisionNotFound(f"Invalid rev id: {revision}")

    def branch_ref(self, revision: str) -> str:
        """The ref a commit to `revision` moves: a branch or a pull-request ref."""
        name = revision if revision.startswith("refs/") else f"refs/heads/{revision}"
        if not (name.startswith("refs/heads/") or name.startswith("refs/pr/")):
            raise RevisionNotFound(f"Invalid rev id: {revision} is not a branch")
        return name

    def _reference(self, ref_name: str) -> pygit2.Reference | None:
        # libgit2 reads the name as a C string: `refs/heads/main\0x` would find (and move) refs/heads/main.
        return None if "\0" in ref_name else self.repo.references.get(ref_name)

    def ref_target(self, ref_name: str) -> str | None:
        ref = self._reference(ref_name)
        return None if ref is None else str(ref.peel(pygit2.Commit).id)

    def raw_ref_target(self, ref_name: str) -> str | None:
        """What the ref points to as stored: a commit, or a tag object for annotated tags."""
        ref = self._reference(ref_name)
        return None if ref is None else str(ref.target)

    def refs(self) -> list[tuple[str, str]]:
        """Every ref with the commit it points to, sorted by name."""
        result = []
        for name in self.repo.references:
            target = self.ref_target(name)
            if target is not None:
                result.append((name, target))
        return sorted(result)

    def update_ref(self, ref_name: str, new: str | None, expected: str | None) -> None:
        """Move `ref_name` from `expected` to `new` (None: absent), or raise if it moved meanwhile.

        libgit2 checks the old value while holding git's own `<ref>.lock`, so this is a compare-and-swap that
        also holds against any git process. Only a holder of the repository's writer lock may call it
        (GitStore.writing): then no writer of ours holds a git ref lock, so one that stays is a crashed process's.
        """
        if not self.writer:
            raise RuntimeError("Refs move only under the repository's writer lock (GitStore.writing)")
        try:
            self._compare_and_swap(ref_name, new, expected)
        except OSError:  # libgit2 could not create git's lock file
            if self._blocked_by_a_ref_file(ref_name):
                raise Conflict(
                    f"Reference {ref_name} cannot be created: a ref is named like one of its folders"
                ) from None
            if not self._clear_stale_ref_locks(ref_name):
                raise
            try:
                self._compare_and_swap(ref_name, new, expected)
            except OSError:
                raise RepositoryBusy(f"{ref_name} is locked by another git process: try again shortly") from None

    def _compare_and_swap(self, ref_name: str, new: str | None, expected: str | None) -> None:
        if expected is None:
            if new is not None:
                self._create_ref(ref_name, new)
            return
        try:
            ref = self._reference(ref_name)
            if ref is None:
                raise RevisionNotFound(f"Invalid rev id: {ref_name} does not exist")
            if str(ref.target) != expected:
                raise _moved(ref_name, expected)
            if new is None:
                ref.delete()
            else:
                ref.set_target(pygit2.Oid(hex=new))
        except pygit2.GitError:
            raise _moved(ref_name, expected) from None  # the old value no longer matched

    def _create_ref(self, ref_name: str, target: str) -> None:
        if "\0" in ref_name:  # see _reference
            raise BadRequest(f"Invalid ref name {ref_name!r}")
        try:
            self.repo.references.create(ref_name, pygit2.Oid(hex=target), force=False)
        except pygit2.AlreadyExistsError:
            raise Conflict(f"Reference {ref_name} already exists") from None
        except pygit2.GitError as error:  # "there are refs beneath that folder"
            raise Conflict(f"Reference {ref_name} cannot be created: {error}") from None

    def _blocked_by_a_ref_file(self, ref_name: str) -> bool:
        """Whether a ref's name is a folder of `ref_name` (`refs/heads/a` exists, `refs/heads/a/b` cannot)."""
        return any((self.path / folder).is_file() for folder in _parents(ref_name))

    def clear_stale_ref_locks(self, ref_names: list[str]) -> None:
        """Remove the git lock files of `ref_names` (and of packed-refs) that a crashed process left behind."""
        for ref_name in ref_names:
            self._clear_stale_ref_locks(ref_name)

    def _clear_stale_ref_locks(self, ref_name: str) -> bool:
        """Wait for the lock files git would take to move `ref_name` to go away, or to be old enough to be
        a crashed process's (git holds them for milliseconds), then remove those; False if there were none."""
        if not ref_name.startswith("refs/") or not pygit2.reference_is_valid_name(ref_name):
            # A pushed name reaches the pre-receive hook before git refuses it: `refs/../..` or `modelyard-writer`
            # must not become the path of a file to remove.
            return False
        found = False
        for lock in (self.path / f"{ref_name}.lock", self.path / "packed-refs.lock"):
            while True:
                try:
                    age = time.time() - lock.stat().st_mtime
                except (FileNotFoundError, NotADirectoryError):
                    break
                found = True
                if age >= STALE_REF_LOCK_SECONDS:
                    log.warning("Removing %s, left %.0f s ago by a git process that did not finish", lock, age)
                    lock.unlink(missing_ok=True)
                    break
                time.sleep(min(STALE_REF_LOCK_SECONDS - age, 0.05))
        return found

    def create_tag_object(self, name: str, commit: str, message: str, tagger: pygit2.Signature) -> str:
        """Write an annotated tag object (no ref: refs move only through update_ref)."""
        raw = (
            f"object {commit}\ntype commit\ntag {name}\n"
            f"tagger {tagger.name} <{tagger.email}> {tagger.time} +0000\n\n{message.rstrip()}\n"
        )
        return str(self.repo.odb.write(ObjectType.TAG, raw.encode()))

    # Objects

    def commit(self, commit_id: str) -> CommitInfo:
        return _commit_info(self.repo[commit_id])

    def create_blob(self, data: bytes) -> str:
        try:
            return str(self.repo.create_blob(data))
        except (pygit2.GitError, OSError):
            if not self.path.exists():  # deleted by another request meanwhile: blobs are written before the lock
                raise RepoNotFound() from None
            raise

    def read_blob(self, oid: str) -> bytes:
        return self.repo[oid].data

    def build_tree(
        self,
        parent: str | None,
        upserts: dict[str, str],
        deleted_files: list[str],
        deleted_folders: list[str],
    ) -> str:
        """Tree of `parent` with `deleted_*` removed and `upserts` (path -> blob id) written."""
        index = pygit2.Index()
        if parent is not None:
            index.read_tree(self.repo[parent].tree)
        files = {entry.path for entry in index}
        deleted_folders = list(deleted_folders)
        for path in deleted_files:
            if path not in files and any(name.startswith(f"{path}/") for name in files):
                deleted_folders.append(path)  # the Hub deletes a folder named by `deletedFile` too
                continue
            if path not in files:
                raise EntryNotFound(f"A file with this name doesn't exist: {path}")
            files.discard(path)
            index.remove(path)
        for folder in deleted_folders:
            prefix = folder.rstrip("/") + "/"
            doomed = [path for path in files if path.startswith(prefix)]
            if not doomed:
                raise EntryNotFound(f"A folder with this name doesn't exist: {folder}")
            for path in doomed:
                files.discard(path)
                index.remove(path)
        folders = {parent for path in files for parent in _parents(path)}
        for path, blob in upserts.items():
            if path in folders or any(parent in files for parent in _parents(path)):
                raise BadRequest(f"Cannot write {path}: a file and a folder would have the same path")
            files.add(path)
            folders.update(_parents(path))
            try:
                index.add(pygit2.IndexEntry(path, pygit2.Oid(hex=blob), BLOB_MODE))
            except pygit2.GitError as error:  # libgit2's own path rules, should validate_repo_path miss one
                raise InvalidPath(f"Invalid path {path!r}: git refuses it ({error})") from None
        return str(index.write_tree(self.repo))

    def create_commit(self, tree: str, parents: list[str], message: str, author: pygit2.Signature) -> str:
        oid = self.repo.create_commit(None, author, author, message, pygit2.Oid(hex=tree), parents)
        return str(oid)

    def tree_id(self, commit_id: str) -> str:
        return str(self.repo[commit_id].tree_id)

    # Reading trees

    def entry(self, commit_id: str, path: str) -> Entry | None:
        """The file or folder at `path` ('' is the root folder), or None."""
        tree = self.repo[commit_id].tree
        if path == "":
            return Entry(path="", type="directory", oid=str(tree.id))
        try:
            obj = tree[path]
        except KeyError:
            return None
        return self._entry(path, obj)

    def list(self, commit_id: str, folder: str, recursive: bool) -> Iterator[Entry]:
        """Entries below `folder` ('' for the root), sorted like git sorts them, folders included."""
        root = self.repo[commit_id].tree
        tree = root if folder == "" else root[folder]
        if not isinstance(tree, pygit2.Tree):
            raise EntryNotFound(f"{folder} is a file, not a folder")
        yield from self._walk(tree, folder, recursive)

    def _walk(self, tree: pygit2.Tree, prefix: str, recursive: bool) -> Iterator[Entry]:
        for obj in tree:
            path = f"{prefix}/{obj.name}" if prefix else obj.name
            yield self._entry(path, obj)
            if recursive and isinstance(obj, pygit2.Tree):
                yield from self._walk(obj, path, recursive)

    def _entry(self, path: str, obj: pygit2.Object) -> Entry:
        if isinstance(obj, pygit2.Tree):
            return Entry(path=path, type="directory", oid=str(obj.id))
        size = obj.size
        pointer = LfsPointer.decode(obj.data) if size <= MAX_POINTER_SIZE else None
        if pointer is not None:
            return Entry(path, "file", str(obj.id), pointer.size, pointer, size)
        return Entry(path, "file", str(obj.id), size)

    def file_paths(self, commit_id: str) -> Iterator[str]:
        """The paths of every file at `commit_id`, without reading their contents."""
        pending: list[tuple[pygit2.Tree, str]] = [(self.repo[commit_id].tree, "")]
        while pending:
            tree, prefix = pending.pop()
            for obj in tree:
                path = f"{prefix}{obj.name}"
                if isinstance(obj, pygit2.Tree):
                    pending.append((obj, f"{path}/"))
                else:
                    yield path

    def files(self, commit_id: str) -> list[Entry]:
        return [entry for entry in self.list(commit_id, "", recursive=True) if entry.type == "file"]

    # History

    def history(self, commit_id: str, skip: int, limit: int) -> list[CommitInfo]:
        """Commits reachable from `commit_id`, newest first, `limit` of them after skipping `skip`."""
        result: list[CommitInfo] = []
        walker = self.repo.walk(pygit2.Oid(hex=commit_id), SortMode.TOPOLOGICAL | SortMode.TIME)
        for index, commit in enumerate(walker):
            if index < skip:
                continue
            if len(result) == limit:
                break
            result.append(_commit_info(commit))
        return result

    def last_commit_touching(self, commit_id: str, path: str) -> CommitInfo:
        """The newest commit, from `commit_id` back, that changed `path` (the first-parent line)."""
        commit = self.repo[commit_id]
        current = _oid_at(commit.tree, path)
        while commit.parents:
            parent = commit.parents[0]
            if _oid_at(parent.tree, path) != current:
                break
            commit = parent
        return _commit_info(commit)

    def is_lfs_tracked(self, commit_id: str | None, path: str) -> bool:
        """Whether the `.gitattributes` at `commit_id` sends `path` through the LFS filter."""
        if commit_id is None:
            return False
        flags = AttrCheck.INCLUDE_COMMIT | AttrCheck.NO_SYSTEM | AttrCheck.INDEX_ONLY
        return self.repo.get_attr(path, "filter", flags, commit_id) == "lfs"


def _moved(ref_name: str, expected: str | None) -> StaleParent:
    return StaleParent(f"{ref_name} is no longer at {expected}: someone pushed meanwhile. Refresh and try again")


def _oid_at(tree: pygit2.Tree, path: str) -> pygit2.Oid | None:
    if path == "":
        return tree.id
    try:
        return tree[path].id
    except KeyError:
        return None


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


def _commit_info(commit: pygit2.Commit) -> CommitInfo:
    message = commit.message
    return CommitInfo(
        id=str(commit.id),
        title=message.split("\n", 1)[0].strip(),
        message=message,
        author=commit.author.name,
        author_email=commit.author.email,
        date=from_timestamp(commit.commit_time),
        parents=tuple(str(parent) for parent in commit.parent_ids),
    )
