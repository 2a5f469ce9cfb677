"""The push checks (services/push.py) without git push: a real hub on a temp data dir (SQLite), a real bare
repository made by create_repo, and a push's objects written with pygit2 into a quarantine object directory, as
`git receive-pack` keeps them while its pre-receive hook runs (GIT_OBJECT_DIRECTORY / GIT_ALTERNATE_OBJECT_DIRECTORIES).

Each rule push.py enforces has a refusal with its exact message and an acceptance at its edge. The git push tests
(tests/integration/test_git.py) show the same rules through git; these run in milliseconds, which makes a
mutation run of push.py practical (tests/mutation/run.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
import time
from collections.abc import Iterable
from pathlib import Path

import pygit2
import pytest
from pygit2.enums import FileMode, ObjectType

from modelyard.config import Settings
from modelyard.db.models import Repo
from modelyard.domain.card_metadata import LICENSES
from modelyard.domain.errors import RepoNotFound, RepositoryBusy
from modelyard.domain.lfs_pointer import MAX_POINTER_SIZE, LfsPointer
from modelyard.domain.repo_ids import RepoRef, RepoType
from modelyard.gitstore.repository import STALE_REF_LOCK_SECONDS
from modelyard.services import lfs, push
from modelyard.services.hub import Hub
from modelyard.services.push import PushRejected, RefUpdate
from modelyard.services.repos import RepoRecord, create_repo
from modelyard.services.users import authenticate, create_token, create_user

REGULAR_LIMIT = 2000  # max_regular_file_size: larger files must be LFS pointers
FILE_LIMIT = 5000  # max_file_size: no file (regular or LFS) may be larger
MAIN = "refs/heads/main"
ZERO = "0" * 40
AUTHOR = pygit2.Signature("Pusher", "pusher@example.com", 1_700_000_000, 0)
PROBLEM_LIMIT = 20  # a rejected push lists at most this many problems (services.push.MAX_PROBLEMS)
LFS_HINT = "(is git-lfs installed? `git lfs install`, then `git lfs push --all origin`, and push again)"

File = bytes | tuple[bytes, int] | tuple[pygit2.Oid, int]  # content, or (content or object id, tree entry mode)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Hub:
    """One hub for the module (migrating a database takes a while); each test gets its own repository."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        max_regular_file_size=REGULAR_LIMIT,
        max_file_size=FILE_LIMIT,
        xet_convert_lfs=False,  # no background thread: nothing here reads Xet copies
        repo_lock_timeout_seconds=0.3,
    )
    hub = Hub.open(settings)
    create_user(hub, "alice")
    return hub


def new_repo(hub: Hub, user: str = "alice") -> RepoRecord:
    actor = authenticate(hub, create_token(hub, user, "write"))
    return create_repo(hub, actor, RepoRef(RepoType.MODEL, user, f"pushed-{next(_numbers)}"), private=False)


_numbers = itertools.count()


@pytest.fixture
def record(hub: Hub) -> RepoRecord:
    return new_repo(hub)


class Push:
    """A push in the making: its objects go to a quarantine directory, never to the repository itself."""

    def __init__(self, hub: Hub, record: RepoRecord, quarantine: Path) -> None:
        self.hub, self.record = hub, record
        self.path = hub.git.path(record.storage_key)
        self.objects = pygit2.init_repository(str(quarantine), bare=True)
        self.objects.odb.add_disk_alternate(str(self.path / "objects"))  # trees may reuse the repository's blobs
        self.quarantine = quarantine / "objects"

    @property
    def head(self) -> str:
        return str(self.hub.git.open(self.record.storage_key).repo.references[MAIN].target)

    def blob(self, data: bytes) -> pygit2.Oid:
        return self.objects.create_blob(data)

    def tree(self, files: dict[str, File]) -> pygit2.Oid:
        """A tree holding `files` (paths with '/' make subtrees), each a content or (content or id, mode)."""
        builder = self.objects.TreeBuilder()
        folders: dict[str, dict[str, File]] = {}
        for path, file in files.items():
            name, slash, rest = path.partition("/")
            if slash:
                folders.setdefault(name, {})[rest] = file
                continue
            content, mode = file if isinstance(file, tuple) else (file, FileMode.BLOB)
            builder.insert(name, self.blob(content) if isinstance(content, bytes) else content, mode)
        for name, inner in folders.items():
            builder.insert(name, self.tree(inner), FileMode.TREE)
        return builder.write()

    def raw_tree(self, entries: list[tuple[int, str, pygit2.Oid]]) -> pygit2.Oid:
        """A tree written byte by byte: names and modes that pygit2's TreeBuilder refuses to write."""
        data = b"".join(f"{mode:o} {name}".encode() + b"\0" + oid.raw for mode, name, oid in entries)
        return self.objects.odb.write(ObjectType.TREE, data)

    def commit(self, files: dict[str, File] | pygit2.Oid, parents: Iterable[str] = (), message: str = "c") -> str:
        tree = files if isinstance(files, pygit2.Oid) else self.tree(files)
        return str(
            self.objects.create_commit(None, AUTHOR, AUTHOR, message, tree, [pygit2.Oid(hex=p) for p in parents])
        )

    def on_head(self, files: dict[str, File], message: str = "c") -> str:
        """A commit adding `files` to the head's tree."""
        base = self.hub.git.open(self.record.storage_key).repo.revparse_single(MAIN).peel(pygit2.Commit)
        builder = self.objects.TreeBuilder(self.objects[base.tree_id])
        for name, file in files.items():
            content, mode = file if isinstance(file, tuple) else (file, FileMode.BLOB)
            builder.insert(name, self.blob(content) if isinstance(content, bytes) else content, mode)
        return self.commit(builder.write(), [str(base.id)], message)

    def problems(self, *updates: tuple[str | None, str | None, str]) -> list[str]:
        """What check_push says of these (old, new, ref) updates, seen as the pre-receive hook sees them."""
        os.environ["GIT_OBJECT_DIRECTORY"] = str(self.quarantine)
        os.environ["GIT_ALTERNATE_OBJECT_DIRECTORIES"] = str(self.path / "objects")
        try:
            repo = push.open_quarantined(self.path)
        finally:
            del os.environ["GIT_OBJECT_DIRECTORY"], os.environ["GIT_ALTERNATE_OBJECT_DIRECTORIES"]
        try:
            push.check_push(self.hub, self.record, repo, [RefUpdate(old, new, ref) for old, new, ref in updates])
        except PushRejected as rejected:
            assert str(rejected) == "\n".join(rejected.problems)
            return rejected.problems
        return []

    def to_main(self, new: str) -> list[str]:
        return self.problems((self.head, new, MAIN))

    def upload(self, data: bytes) -> str:
        """An LFS object uploaded to this repository, through the LFS service (as the basic transfer stores it)."""
        oid = hashlib.sha256(data).hexdigest()
        writer = lfs.object_writer(self.hub, lfs.Ticket("upload", self.record.pk, oid, len(data)))
        writer.write(data)
        lfs.store_object(self.hub, lfs.Ticket("upload", self.record.pk, oid, len(data)), writer)
        return oid


@pytest.fixture
def pushing(hub: Hub, record: RepoRecord, tmp_path: Path) -> Push:
    return Push(hub, record, tmp_path / "quarantine")


def pointer(data: bytes) -> bytes:
    return LfsPointer(hashlib.sha256(data).hexdigest(), len(data)).encode()


# --- What receive-pack hands the hook -------------------------------------------------------------------------
def test_ref_update_lines_are_parsed_with_zero_ids_as_absent():
    old, new = "a" * 40, "b" * 40
    with pytest.raises(dataclasses.FrozenInstanceError):  # a value: what the hook read stays what it checks
        RefUpdate.parse(f"{old} {new} refs/heads/main").ref = "refs/heads/other"  # type: ignore[misc]
    assert RefUpdate.parse(f"{old} {new} refs/heads/main\n") == RefUpdate(old, new, "refs/heads/main")
    assert RefUpdate.parse(f"{ZERO} {new} refs/tags/v 1") == RefUpdate(None, new, "refs/tags/v 1")
    assert RefUpdate.parse(f"{old} {ZERO} refs/heads/dev") == RefUpdate(old, None, "refs/heads/dev")


def test_load_record_finds_the_repository_by_primary_key(hub: Hub, record: RepoRecord):
    found = push.load_record(hub, record.pk)
    assert found is not None and (found.pk, found.storage_key) == (record.pk, record.storage_key)
    assert push.load_record(hub, record.pk + 1) is None


def test_pushed_objects_are_read_from_the_quarantine_only_through_the_hook_environment(pushing: Push):
    new = pushing.on_head({"a.txt": b"a"})
    assert pushing.to_main(new) == []
    # Without the variables git sets for hooks, the quarantined commit is not there.
    repo = push.open_quarantined(pushing.path)
    with pytest.raises(PushRejected) as rejected:
        push.check_push(pushing.hub, pushing.record, repo, [RefUpdate(pushing.head, new, MAIN)])
    assert rejected.value.problems == [f"{MAIN}: {new} is not a commit; only commits can be pushed"]


def test_empty_entries_and_the_repository_own_objects_in_the_hook_environment_are_harmless(pushing: Push, monkeypatch):
    new = pushing.on_head({"a.txt": b"a"})
    own = f"{pushing.path}/./objects"  # spelled otherwise: recognised once resolved
    monkeypatch.setenv("GIT_OBJECT_DIRECTORY", f"{os.pathsep}{pushing.quarantine}{os.pathsep}{own}")
    monkeypatch.setenv("GIT_ALTERNATE_OBJECT_DIRECTORIES", f"{own}{os.pathsep}")
    repo = push.open_quarantined(pushing.path)
    push.check_push(pushing.hub, pushing.record, repo, [RefUpdate(pushing.head, new, MAIN)])
    assert repo.get(new) is not None


# --- Refs -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ref", ["refs/pr/1", "refs/convert/parquet", "refs/convert/duckdb/x"])
def test_pull_request_and_conversion_refs_are_refused(pushing: Push, ref: str):
    new = pushing.on_head({"a.txt": b"a"})
    assert pushing.problems((None, new, ref)) == [
        f"{ref}: pull request and conversion refs are managed by the hub, not pushed"
    ]
    assert pushing.problems((new, None, ref)) == [
        f"{ref}: pull request and conversion refs are managed by the hub, not pushed"
    ]


@pytest.mark.parametrize("ref", ["refs/notes/commits", "refs/remotes/origin/main", "HEAD", "refs/heads"])
def test_only_branches_and_tags_can_be_pushed(pushing: Push, ref: str):
    new = pushing.on_head({"a.txt": b"a"})
    assert pushing.problems((None, new, ref)) == [
        f"{ref}: only branches (refs/heads/*) and tags (refs/tags/*) can be pushed"
    ]


@pytest.mark.parametrize(
    ("ref", "what", "name"),
    [("refs/heads/a..b", "branch", "a..b"), ("refs/tags/v 1", "tag", "v 1"), ("refs/heads/", "branch", "")],
)
def test_invalid_branch_and_tag_names_are_refused(pushing: Push, ref: str, what: str, name: str):
    new = pushing.on_head({"a.txt": b"a"})
    assert pushing.problems((None, new, ref)) == [
        f"{ref}: Invalid {what} name {name!r}: use letters, digits, '-', '_', '.' and '/', "
        "not starting with 'refs/' nor containing '..', spaces or ~^:?*[\\"
    ]
    # A bad name is refused before anything else is looked at: its commit's files are not checked.
    bad = pushing.on_head({"big.bin": b"x" * (REGULAR_LIMIT + 1)})
    assert len(pushing.problems((None, bad, ref))) == 1


def test_new_branches_and_tags_are_accepted(pushing: Push):
    new = pushing.on_head({"a.txt": b"a"})
    assert pushing.problems((None, new, "refs/heads/dev"), (None, new, "refs/tags/v1.0")) == []
    assert pushing.problems((None, pushing.head, "refs/heads/feature/x")) == []


def test_annotated_tags_are_accepted_and_peeled_to_their_commit(pushing: Push):
    tag = pushing.objects.create_tag("v1", pygit2.Oid(hex=pushing.head), ObjectType.COMMIT, AUTHOR, "release")
    assert pushing.problems((None, str(tag), "refs/tags/v1")) == []
    # A tag's commit is checked like any new commit.
    bad = pushing.on_head({"big.bin": b"x" * (REGULAR_LIMIT + 1)})
    tag = pushing.objects.create_tag("v2", pygit2.Oid(hex=bad), ObjectType.COMMIT, AUTHOR, "release")
    assert len(pushing.problems((None, str(tag), "refs/tags/v2"))) == 1


@pytest.mark.parametrize("kind", ["blob", "tree", "missing", "not hex"])
def test_only_commits_can_be_pushed(pushing: Push, kind: str):
    target = {
        "blob": lambda: str(pushing.blob(b"a")),
        "tree": lambda: str(pushing.tree({"a.txt": b"a"})),
        "missing": lambda: "1" * 40,
        "not hex": lambda: "z" * 40,
    }[kind]()
    assert pushing.problems((None, target, "refs/heads/dev")) == [
        f"refs/heads/dev: {target} is not a commit; only commits can be pushed"
    ]
    assert pushing.problems((pushing.head, target, MAIN)) == [
        f"{MAIN}: {target} is not a commit; only commits can be pushed"
    ]


def test_the_default_branch_cannot_be_deleted_but_others_can(pushing: Push):
    assert pushing.problems((pushing.head, None, MAIN)) == [f"{MAIN}: the default branch main cannot be deleted"]
    assert pushing.problems((pushing.head, None, "refs/heads/dev"), (pushing.head, None, "refs/tags/v1")) == []


NON_FAST_FORWARD = (
    f"{MAIN}: non-fast-forward updates of the default branch main are not allowed "
    "(fetch and merge or rebase first, then push without --force)"
)


def test_the_default_branch_moves_only_forward(pushing: Push):
    head = pushing.head
    child = pushing.on_head({"a.txt": b"a"})
    grandchild = pushing.commit({"a.txt": b"b"}, [child])
    unrelated = pushing.commit({"a.txt": b"a"})
    assert pushing.problems((head, child, MAIN)) == []
    assert pushing.problems((head, grandchild, MAIN)) == []  # more than one commit ahead
    assert pushing.problems((head, head, MAIN)) == []  # nothing moves
    assert pushing.problems((child, head, MAIN)) == [NON_FAST_FORWARD]  # backwards
    assert pushing.problems((head, unrelated, MAIN)) == [NON_FAST_FORWARD]  # a rewritten history
    assert pushing.problems((None, unrelated, MAIN)) == []  # a default branch that does not exist yet
    # An old value that is not a commit here (git then refuses the update itself) is no ancestor either.
    assert pushing.problems(("1" * 40, child, MAIN)) == [NON_FAST_FORWARD]


def test_other_branches_may_be_rewritten(pushing: Push):
    child = pushing.on_head({"a.txt": b"a"})
    unrelated = pushing.commit({"a.txt": b"b"})
    assert pushing.problems((child, unrelated, "refs/heads/dev")) == []
    assert pushing.problems((child, pushing.head, "refs/tags/v1")) == []


def test_every_ref_is_checked_and_every_problem_reported(pushing: Push):
    good = pushing.on_head({"a.txt": b"a"})
    problems = pushing.problems(
        (None, good, "refs/pr/1"), (None, good, "refs/heads/ok"), (pushing.head, None, MAIN), (None, good, "x")
    )
    assert problems == [
        "refs/pr/1: pull request and conversion refs are managed by the hub, not pushed",
        f"{MAIN}: the default branch main cannot be deleted",
        "x: only branches (refs/heads/*) and tags (refs/tags/*) can be pushed",
    ]


# --- Which commits are checked ----------------------------------------------------------------------------------
def test_only_commits_new_to_the_repository_are_checked(pushing: Push, hub: Hub, record: RepoRecord):
    # A commit with a bad file that is already on a branch of the repository is not checked again.
    big = b"x" * (REGULAR_LIMIT + 1)
    repo = hub.git.open(record.storage_key).repo
    builder = repo.TreeBuilder(repo.revparse_single(MAIN).peel(pygit2.Tree))
    builder.insert("big.bin", repo.create_blob(big), FileMode.BLOB)
    known = str(repo.create_commit("refs/heads/old", AUTHOR, AUTHOR, "known", builder.write(), [repo.head.target]))
    assert pushing.problems((None, known, "refs/heads/copy")) == []
    on_top = pushing.commit({"big.bin": big, "b.txt": b"b"}, [known])
    assert pushing.problems((None, on_top, "refs/heads/copy")) == []  # big.bin is unchanged against its parent
    # Refs to trees or blobs, and dangling symbolic refs, hide nothing and break nothing: the refs after them
    # (git lists refs by name) still hide what they know.
    repo.references.create("refs/heads/a-tree", repo[pygit2.Oid(hex=known)].peel(pygit2.Tree).id)
    repo.references.create("refs/heads/a-blob", repo.create_blob(b"loose"))
    repo.references.create("refs/heads/a-dangling", "refs/heads/nowhere")
    assert pushing.problems((None, on_top, "refs/heads/copy")) == []
    again = pushing.commit({"big.bin": big}, [pushing.head])
    assert pushing.problems((pushing.head, again, MAIN)) == [
        f"big.bin is {REGULAR_LIMIT + 1} bytes: files over {REGULAR_LIMIT} bytes must be stored with "
        "git-lfs (git lfs install; git lfs track 'big.bin'; then commit it again)"
    ]


def test_every_new_commit_is_checked_not_only_the_tip(pushing: Push):
    bad = pushing.on_head({"big.bin": b"x" * (REGULAR_LIMIT + 1)})
    fixed = pushing.commit({"a.txt": b"a"}, [bad])  # big.bin deleted again: a deletion is never a problem
    assert len(pushing.to_main(fixed)) == 1


def test_a_merge_is_checked_against_its_first_parent(pushing: Push):
    head = pushing.head
    side = pushing.commit({"big.bin": b"x" * (REGULAR_LIMIT + 1)}, [head])
    merge = pushing.commit({"big.bin": b"x" * (REGULAR_LIMIT + 1)}, [head, side])
    assert len(pushing.to_main(merge)) == 1  # the file is new in the merge and in `side`: reported once


def test_a_root_commit_has_all_its_files_checked(pushing: Push):
    root = pushing.commit({"dir/big.bin": b"x" * (REGULAR_LIMIT + 1), "ok.txt": b"ok"})
    assert pushing.problems((None, root, "refs/heads/orphan")) == [
        f"dir/big.bin is {REGULAR_LIMIT + 1} bytes: files over {REGULAR_LIMIT} bytes must be stored with "
        "git-lfs (git lfs install; git lfs track 'dir/big.bin'; then commit it again)"
    ]


def test_changed_files_and_type_changes_are_checked(pushing: Push):
    first = pushing.on_head({"f": b"small", "t": b"a file"})
    changed = pushing.commit({"f": b"y" * (REGULAR_LIMIT + 1), "t": (b"target", FileMode.LINK)}, [first])
    assert sorted(pushing.problems((None, changed, "refs/heads/dev"))) == [
        f"f is {REGULAR_LIMIT + 1} bytes: files over {REGULAR_LIMIT} bytes must be stored with "
        "git-lfs (git lfs install; git lfs track 'f'; then commit it again)",
        "t: symbolic links are not supported; commit the file itself",
    ]


def test_the_same_file_in_several_new_commits_is_reported_once(pushing: Push):
    big = b"x" * (REGULAR_LIMIT + 1)
    first = pushing.commit({"big.bin": big}, [pushing.head])
    second = pushing.commit({"a.txt": b"a"}, [first])
    third = pushing.commit({"big.bin": big, "a.txt": b"a"}, [second])  # the same bytes at the same path again
    assert len(pushing.to_main(third)) == 1
    # The same bytes at another path are another problem.
    fourth = pushing.commit({"big.bin": big, "copy.bin": big}, [pushing.head])
    assert len(pushing.to_main(fourth)) == 2


def test_a_file_seen_before_does_not_end_the_check_of_its_commit(pushing: Push):
    big1, big2 = b"1" * (REGULAR_LIMIT + 1), b"2" * (REGULAR_LIMIT + 1)
    first = pushing.commit({"a.txt": b"same", "m.bin": big1}, [pushing.head])
    emptied = pushing.commit({"other.txt": b"o"}, [first])
    again = pushing.commit({"a.txt": b"same", "z.bin": big2}, [emptied])  # a.txt as in `first`, then a new file
    problems = pushing.to_main(again)
    # Whichever of `first` and `again` is read second, its large file comes after the a.txt already seen.
    assert sorted(problem.split(" ")[0] for problem in problems) == ["m.bin", "z.bin"]


def test_files_a_merge_takes_from_its_first_parent_are_not_checked_again(pushing: Push, hub: Hub, record: RepoRecord):
    # `old` (already in the repository) has a large file; a merge into it of a new side branch brings nothing
    # new but the side's file, although against the side the large file looks added.
    big = b"x" * (REGULAR_LIMIT + 1)
    repo = hub.git.open(record.storage_key).repo
    builder = repo.TreeBuilder(repo.revparse_single(MAIN).peel(pygit2.Tree))
    builder.insert("big.bin", repo.create_blob(big), FileMode.BLOB)
    known = str(repo.create_commit("refs/heads/old", AUTHOR, AUTHOR, "known", builder.write(), [repo.head.target]))
    side = pushing.on_head({"side.txt": b"side"})
    merged = pushing.objects.TreeBuilder(pushing.objects[pygit2.Oid(hex=known)].peel(pygit2.Tree))
    merged.insert("side.txt", pushing.blob(b"side"), FileMode.BLOB)
    merge = pushing.commit(merged.write(), [known, side])
    assert pushing.problems((known, merge, "refs/heads/old")) == []


def test_problems_stop_at_the_limit(pushing: Push):
    files: dict[str, File] = {f"big{i:02}.bin": bytes([i]) * (REGULAR_LIMIT + 1) for i in range(PROBLEM_LIMIT + 5)}
    problems = pushing.to_main(pushing.commit(files, [pushing.head]))
    assert len(problems) == PROBLEM_LIMIT
    assert problems[0].startswith("big00.bin is ")


def test_one_problem_short_of_the_limit_still_checks_lfs_objects(pushing: Push):
    files: dict[str, File] = {f"big{i:02}.bin": bytes([i]) * (REGULAR_LIMIT + 1) for i in range(PROBLEM_LIMIT - 2)}
    problems = pushing.to_main(pushing.commit({**files, "w.bin": pointer(b"weights")}, [pushing.head]))
    assert len(problems) == PROBLEM_LIMIT - 1
    assert problems[-1].startswith("w.bin: the LFS object ")


def test_nothing_to_check_without_new_commits(pushing: Push):
    assert pushing.problems((pushing.head, None, "refs/heads/dev")) == []


# --- Files ----------------------------------------------------------------------------------------------------
def test_symbolic_links_and_submodules_are_refused(pushing: Push):
    new = pushing.on_head({"link": (b"README.md", FileMode.LINK), "sub": (pygit2.Oid(hex="1" * 40), FileMode.COMMIT)})
    assert pushing.to_main(new) == [
        "link: symbolic links are not supported; commit the file itself",
        "sub: submodules are not supported",
    ]


def test_executable_files_are_files(pushing: Push):
    assert pushing.to_main(pushing.on_head({"run.sh": (b"#!/bin/sh\n", FileMode.BLOB_EXECUTABLE)})) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (".git", "Invalid path '.git': '.git' is reserved by git (as '.git')"),
        ("..", "Invalid path '..': empty, '.' and '..' segments are not allowed"),
        ("a\\b", "Invalid path 'a\\\\b': backslashes are not allowed"),
    ],
)
def test_invalid_paths_are_refused(pushing: Push, name: str, message: str):
    tree = pushing.raw_tree([(0o100644, name, pushing.blob(b"x"))])
    new = pushing.commit(tree, [pushing.head])
    assert pushing.to_main(new)[0] == f"{name}: {message}"


def test_a_file_entry_naming_a_tree_is_not_a_file(pushing: Push):
    inner = pushing.tree({"a.txt": b"a"})
    new = pushing.commit(pushing.raw_tree([(0o100644, "weird", inner)]), [pushing.head])
    assert pushing.to_main(new) == ["weird: not a file"]


def test_regular_files_up_to_the_limit_are_accepted(pushing: Push):
    assert pushing.to_main(pushing.on_head({"edge.bin": b"x" * REGULAR_LIMIT, "empty": b""})) == []


def test_regular_files_over_the_limits_are_refused(pushing: Push):
    new = pushing.on_head({"big.bin": b"x" * (REGULAR_LIMIT + 1), "huge.bin": b"y" * (FILE_LIMIT + 1)})
    assert pushing.to_main(new) == [
        f"big.bin is {REGULAR_LIMIT + 1} bytes: files over {REGULAR_LIMIT} bytes must be stored with "
        "git-lfs (git lfs install; git lfs track 'big.bin'; then commit it again)",
        f"huge.bin is {FILE_LIMIT + 1} bytes, over the limit of {FILE_LIMIT} bytes",
    ]
    at_limit = pushing.on_head({"edge.bin": b"z" * FILE_LIMIT})
    assert pushing.to_main(at_limit) == [
        f"edge.bin is {FILE_LIMIT} bytes: files over {REGULAR_LIMIT} bytes must be stored with "
        "git-lfs (git lfs install; git lfs track 'edge.bin'; then commit it again)"
    ]


# --- LFS pointers ---------------------------------------------------------------------------------------------
def test_pointers_to_objects_uploaded_to_this_repository_are_accepted(pushing: Push):
    weights = os.urandom(FILE_LIMIT)  # an object of exactly the file limit
    pushing.upload(weights)
    assert pushing.to_main(pushing.on_head({"w.bin": pointer(weights), "again.bin": pointer(weights)})) == []


def test_pointers_to_objects_never_uploaded_here_are_refused(pushing: Push, hub: Hub, tmp_path: Path):
    weights, other = os.urandom(100), os.urandom(50)
    # Uploaded to another repository: knowing its hash is not enough.
    create_user(hub, "mallory")
    elsewhere = new_repo(hub, "mallory")
    Push(hub, elsewhere, tmp_path / "elsewhere").upload(weights)
    new = pushing.on_head({"b.bin": pointer(other), "a.bin": pointer(weights)})
    oid_a, oid_b = hashlib.sha256(weights).hexdigest(), hashlib.sha256(other).hexdigest()
    assert pushing.to_main(new) == [  # sorted by path
        f"a.bin: the LFS object {oid_a} was never uploaded to this repository {LFS_HINT}",
        f"b.bin: the LFS object {oid_b} was never uploaded to this repository {LFS_HINT}",
    ]


def test_a_pointer_whose_size_differs_from_the_upload_is_refused(pushing: Push):
    weights = os.urandom(100)
    oid = pushing.upload(weights)
    new = pushing.on_head({"w.bin": LfsPointer(oid, 99).encode()})
    assert pushing.to_main(new) == [f"w.bin: the LFS pointer says 99 bytes, the uploaded object {oid} has 100 bytes"]


def test_pointers_over_the_file_limit_are_refused(pushing: Push):
    oid = hashlib.sha256(b"anything").hexdigest()
    new = pushing.on_head({"w.bin": LfsPointer(oid, FILE_LIMIT + 1).encode()})
    assert pushing.to_main(new) == [f"w.bin is {FILE_LIMIT + 1} bytes, over the limit of {FILE_LIMIT} bytes"]


def test_pointer_text_up_to_1024_bytes_obeys_the_lfs_rules(pushing: Push):
    weights = os.urandom(100)
    text = pointer(weights)
    padded = text + b"x-padding " + b"p" * (MAX_POINTER_SIZE - len(text) - 11) + b"\n"
    assert len(padded) == MAX_POINTER_SIZE and LfsPointer.decode(padded) is not None
    oid = hashlib.sha256(weights).hexdigest()
    assert pushing.to_main(pushing.on_head({"w.bin": padded})) == [
        f"w.bin: the LFS object {oid} was never uploaded to this repository {LFS_HINT}"
    ]
    # One byte more and it is a regular file, whatever it says.
    assert pushing.to_main(pushing.on_head({"w.bin": padded + b"\n"})) == []


# --- Cards ----------------------------------------------------------------------------------------------------
GOOD_CARD = b"---\nlicense: apache-2.0\ntags: [test]\n---\n# A model\n"
LICENSE_ERROR = f'"license" must be one of [{", ".join(LICENSES)}]'


def test_a_valid_card_or_one_without_metadata_is_accepted(pushing: Push):
    assert pushing.to_main(pushing.on_head({"README.md": GOOD_CARD})) == []
    assert pushing.to_main(pushing.on_head({"README.md": b"# No metadata at all\n"})) == []


@pytest.mark.parametrize(
    ("card", "error"),
    [
        (b"---\nlicense: not-a-license\n---\n# Card\n", LICENSE_ERROR),
        (b"---\nlicense: [mit\n---\n# Card\n", "Invalid YAML in README.md: "),
        (b"---\nmodel-index: {name: x}\n---\n", '"model-index" must be an array'),
    ],
)
def test_a_card_with_invalid_metadata_is_refused(pushing: Push, card: bytes, error: str):
    problems = pushing.to_main(pushing.on_head({"README.md": card}))
    assert len(problems) == 1
    assert problems[0].startswith(f"Invalid metadata in README.md.\n- {error}")


def test_only_the_root_card_is_validated(pushing: Push):
    bad = b"---\nlicense: not-a-license\n---\n"
    new = pushing.commit({"docs/README.md": bad, "readme.md": bad}, [pushing.head])
    assert pushing.to_main(new) == []


def test_a_card_too_large_for_git_is_refused_for_its_size_only(pushing: Push):
    big_bad = b"---\nlicense: [\n---\n" + b"x" * REGULAR_LIMIT
    assert pushing.to_main(pushing.on_head({"README.md": big_bad})) == [
        f"README.md is {len(big_bad)} bytes: files over {REGULAR_LIMIT} bytes must be stored with "
        "git-lfs (git lfs install; git lfs track 'README.md'; then commit it again)"
    ]


# --- The writer lock and what follows the push -----------------------------------------------------------------
def test_the_hook_takes_the_writer_lock_and_clears_stale_ref_locks(hub: Hub, record: RepoRecord):
    path = hub.git.path(record.storage_key)
    stale = path / "refs" / "heads" / "main.lock"
    stale.write_text("left by a crash")
    old = time.time() - STALE_REF_LOCK_SECONDS - 1
    os.utime(stale, (old, old))
    handle = push.writer_lock(hub, record)
    try:
        push.hold_writer_lock(hub, record, handle.fd, [RefUpdate(None, "a" * 40, MAIN)])
        assert not stale.exists()
        # Held now: an API commit waits for it, then gives up with 503.
        with pytest.raises(RepositoryBusy), hub.git.writing(record.storage_key):
            pass
    finally:
        handle.close()


def test_a_busy_repository_refuses_the_push(hub: Hub, record: RepoRecord):
    with hub.git.writing(record.storage_key):
        handle = push.writer_lock(hub, record)
        try:
            with pytest.raises(RepositoryBusy, match="busy with other commits: try the push again"):
                push.hold_writer_lock(hub, record, handle.fd, [])
        finally:
            handle.close()


def test_a_repository_deleted_before_or_during_the_push_is_gone(hub: Hub, record: RepoRecord):
    handle = push.writer_lock(hub, record)
    try:
        hub.git.delete(record.storage_key)
        with pytest.raises(RepoNotFound, match="no longer exists"):
            push.hold_writer_lock(hub, record, handle.fd, [])
    finally:
        handle.close()
    with pytest.raises(RepoNotFound):
        push.writer_lock(hub, record)


def test_record_push_updates_the_index_and_snapshots_show_refs(pushing: Push, hub: Hub, record: RepoRecord):
    with hub.db.session() as session:
        before = session.get(Repo, record.pk).last_modified
    time.sleep(0.01)
    push.record_push(hub, record)
    with hub.db.session() as session:
        assert session.get(Repo, record.pk).last_modified > before
    assert push.ref_snapshot(hub, record) == {MAIN: pushing.head}
