"""The one commit path: API commits, and later web uploads and git pushes, all end here.

verify blobs → build the tree → create the commit → move the ref by compare-and-swap → update the index,
the last three under the repository's writer lock. Nothing is visible until the ref moves, so a rejected or
interrupted commit leaves nothing behind.
"""

from __future__ import annotations

from modelyard.domain.card_metadata import validate_committed_card
from modelyard.domain.cards import CARD_PATH
from modelyard.domain.commit_ops import CommitRequest, LfsAddition
from modelyard.domain.errors import BadRequest, RevisionNotFound, StaleParent, TooLarge
from modelyard.domain.lfs_pointer import MAX_POINTER_SIZE, LfsPointer, is_sha256
from modelyard.domain.paths import validate_folder_path, validate_repo_path
from modelyard.domain.revisions import is_commit_prefix
from modelyard.gitstore.repository import GitRepository
from modelyard.services import lfs, repo_index, xet
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord, open_git, signature, writing
from modelyard.services.users import Actor


def commit(hub: Hub, actor: Actor, record: RepoRecord, revision: str, request: CommitRequest) -> str:
    """Apply `request` on top of branch `revision`; returns the new commit id."""
    _validate(hub, request)
    git = open_git(hub, record)
    ref_name = git.branch_ref(revision)
    # A regular file whose content is an LFS pointer would serve that object: it obeys the lfsFile rules.
    lfs_sizes = _verify_lfs_objects(hub, record, [*request.lfs_files, *_pointer_files(request)])
    # Blobs do not depend on the head: written before taking the lock, so that writers hold it briefly.
    upserts = {path: git.create_blob(content) for path, content in request.files.items()}
    for addition in request.lfs_files:
        upserts[addition.path] = git.create_blob(LfsPointer(addition.oid, lfs_sizes[addition.oid]).encode())
    # Under the lock the head cannot move: a commit without parentCommit lands on whatever it is now,
    # one whose parentCommit is not the head any more gets a clean 412.
    with writing(hub, record) as git:
        head = git.ref_target(ref_name)
        if head is None:
            raise RevisionNotFound(f"Invalid rev id: {revision}")
        _check_parent(request.parent_commit, head)
        new_commit = _create_commit(git, head, upserts, request, actor)
        git.update_ref(ref_name, new_commit, expected=head)
        repo_index.after_change(hub, record)  # the index follows the ref, before the next writer starts
    return new_commit


def _pointer_files(request: CommitRequest) -> list[LfsAddition]:
    pointers = []
    for path, content in request.files.items():
        pointer = LfsPointer.decode(content) if len(content) <= MAX_POINTER_SIZE else None
        if pointer is not None:
            pointers.append(LfsAddition(path, pointer.oid, pointer.size))
    return pointers


def _validate(hub: Hub, request: CommitRequest) -> None:
    if not request.summary.strip():
        raise BadRequest("The commit summary must not be empty")
    seen: set[str] = set()
    paths = [*request.files, *(addition.path for addition in request.lfs_files), *request.deleted_files]
    for path in paths:
        validate_repo_path(path)
        if path in seen:
            raise BadRequest(f"The commit names {path} more than once")
        seen.add(path)
    for folder in request.deleted_folders:
        validate_folder_path(folder)
    if CARD_PATH in request.files:
        validate_committed_card(request.files[CARD_PATH])  # as pushes do (services.push)
    limit = min(hub.settings.max_regular_file_size, hub.settings.max_file_size)
    for path, content in request.files.items():
        if len(content) > limit:
            raise TooLarge(
                f"{path} is {len(content)} bytes: regular files are limited to {limit} bytes, "
                "larger files must be uploaded with LFS"
            )
    for addition in request.lfs_files:
        if not is_sha256(addition.oid):
            raise BadRequest(f"lfsFile {addition.path}: oid must be a sha256 hex digest")
        if addition.size is not None and addition.size > hub.settings.max_file_size:
            raise TooLarge(f"{addition.path} is larger than the limit of {hub.settings.max_file_size} bytes")


def _verify_lfs_objects(hub: Hub, record: RepoRecord, additions: list[LfsAddition]) -> dict[str, int]:
    """Every LFS object must be uploaded to this repository and stored whole; returns oid -> size."""
    if not additions:
        return {}
    oids = {addition.oid for addition in additions}
    uploaded = lfs.uploaded_sizes(hub, record, oids)
    refuted = xet.refuted_claims(hub, record.pk, oids - uploaded.keys())
    sizes: dict[str, int] = {}
    for addition in additions:
        stored = uploaded.get(addition.oid)
        if addition.oid in refuted:
            raise BadRequest(
                f"{addition.path}: the Xet upload claiming sha256 {addition.oid} holds other bytes "
                f"(their sha256 is {refuted[addition.oid]}); upload the file again"
            )
        if stored is None:
            raise BadRequest(f"{addition.path}: the LFS object {addition.oid} was never uploaded to this repository")
        if addition.size is not None and addition.size != stored:
            raise BadRequest(f"{addition.path}: LFS size {addition.size} does not match the uploaded {stored}")
        sizes[addition.oid] = stored
    return sizes


def _check_parent(parent_commit: str | None, head: str) -> None:
    if parent_commit is None:
        return
    if not is_commit_prefix(parent_commit) or len(parent_commit) < 5:
        raise BadRequest(f"parentCommit {parent_commit!r} is not a commit id")
    if not head.startswith(parent_commit):
        raise StaleParent(
            f"A commit has happened since. Please refresh and try again. (parent {parent_commit}, head {head})"
        )


def _create_commit(git: GitRepository, head: str, upserts: dict[str, str], request: CommitRequest, actor: Actor) -> str:
    tree = git.build_tree(head, upserts, request.deleted_files, request.deleted_folders)
    return git.create_commit(tree, [head], request.message, signature(actor))
