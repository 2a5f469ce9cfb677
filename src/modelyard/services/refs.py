"""Branches and tags. Refs move only through GitRepository.update_ref (compare-and-swap), under the
repository's writer lock.

Callers have checked Action.WRITE on the repository."""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.domain.errors import BadRequest, Forbidden, RevisionNotFound
from modelyard.domain.revisions import DEFAULT_BRANCH, is_commit_prefix, validate_new_ref_name
from modelyard.services import repo_index
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord, open_git, signature, writing
from modelyard.services.users import Actor


@dataclass(frozen=True)
class RefListing:
    branches: list[tuple[str, str, str]]  # (name, ref, target commit)
    tags: list[tuple[str, str, str]]
    converts: list[tuple[str, str, str]]
    pull_requests: list[tuple[str, str, str]]


def list_refs(hub: Hub, record: RepoRecord) -> RefListing:
    listing = RefListing([], [], [], [])
    groups = {
        "refs/heads/": listing.branches,
        "refs/tags/": listing.tags,
        "refs/convert/": listing.converts,
        "refs/pr/": listing.pull_requests,
    }
    for ref, target in open_git(hub, record).refs():
        for prefix, group in groups.items():
            if ref.startswith(prefix):
                name = ref if prefix == "refs/pr/" else ref[len(prefix) :]
                group.append((name, ref, target))
    return listing


def create_branch(hub: Hub, record: RepoRecord, branch: str, starting_point: str | None) -> None:
    validate_new_ref_name(branch, "branch")
    with writing(hub, record) as git:
        target = git.resolve(starting_point or DEFAULT_BRANCH)
        git.update_ref(f"refs/heads/{branch}", target, expected=None)


def delete_branch(hub: Hub, record: RepoRecord, branch: str) -> None:
    if branch == DEFAULT_BRANCH:
        raise Forbidden(f"The default branch {DEFAULT_BRANCH} cannot be deleted")
    _delete_ref(hub, record, f"refs/heads/{branch}")


def create_tag(hub: Hub, actor: Actor, record: RepoRecord, revision: str, tag: str, message: str | None) -> None:
    validate_new_ref_name(tag, "tag")
    with writing(hub, record) as git:
        target = git.resolve(revision)
        if message:
            target = git.create_tag_object(tag, target, message, signature(actor))
        git.update_ref(f"refs/tags/{tag}", target, expected=None)


def delete_tag(hub: Hub, record: RepoRecord, tag: str) -> None:
    _delete_ref(hub, record, f"refs/tags/{tag}")


def _delete_ref(hub: Hub, record: RepoRecord, ref: str) -> None:
    with writing(hub, record) as git:
        current = git.raw_ref_target(ref)
        if current is None:
            raise RevisionNotFound(f"Invalid rev id: {ref} does not exist")
        git.update_ref(ref, None, expected=current)


def super_squash(hub: Hub, actor: Actor, record: RepoRecord, branch: str, message: str) -> str:
    """Replace the history of `branch` by one commit of its current files; returns that commit.

    Only branches, as on the Hub: a tag or a commit id is refused. The old commits stay reachable from any
    other ref that points to them.
    """
    if not message.strip():
        raise BadRequest("The commit message of a super-squash must not be empty")
    ref = f"refs/heads/{branch}"
    with writing(hub, record) as git:
        head = git.raw_ref_target(ref)
        if head is None:
            if git.raw_ref_target(f"refs/tags/{branch}") is not None or (
                len(branch) == 40 and is_commit_prefix(branch)
            ):
                raise BadRequest(f"Invalid rev id: {branch} is not a branch; only branches can be squashed")
            raise RevisionNotFound(f"Invalid rev id: {branch}")
        squashed = git.create_commit(git.tree_id(head), [], message.strip() + "\n", signature(actor))
        git.update_ref(ref, squashed, expected=head)
        repo_index.after_change(hub, record)  # the index follows the ref, before the next writer starts
    return squashed
