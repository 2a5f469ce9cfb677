"""Pull requests in git: the ref `refs/pr/N`, commits to it, its diff and conflicts, and the merge.

A pull request's ref starts at its target branch's head; commits reach it through the one commit path
(services.commits) and are recorded as `commit` events. Merging squashes the pull request onto the target
branch, as the Hub does: one new commit on the branch, whose parent is the branch head and whose tree is the
three-way merge of the branch with the pull request (their merge base as ancestor). It is a compare-and-swap
under the repository's writer lock, so a branch that moved meanwhile is merged against, never overwritten.

Lock order, everywhere: the git writer lock first, then a database session (never a session waiting on the lock).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete

from modelyard.db.models import Discussion
from modelyard.domain.commit_ops import CommitRequest
from modelyard.domain.errors import BadRequest, Conflict, Forbidden, HubError, NotFound, RevisionNotFound
from modelyard.domain.revisions import DEFAULT_BRANCH
from modelyard.gitstore.repository import GitRepository
from modelyard.services import commits, discussions, repo_index
from modelyard.services.access import Action, authorize
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord, open_git, signature, writing
from modelyard.services.users import Actor

PULL_REQUEST_REF = re.compile(r"refs/pr/([1-9][0-9]{0,8})")
MAX_DIFF_BYTES = 1024 * 1024  # a diff is for reading: past this it is cut, with a note


@dataclass(frozen=True)
class CommitResult:
    commit_id: str
    pull_request: int | None  # the number of the pull request opened by create_pr


@dataclass(frozen=True)
class Changes:
    files_with_conflicts: list[str]
    diff: str


def pull_request_number(revision: str) -> int | None:
    match = PULL_REQUEST_REF.fullmatch(revision)  # not match: `$` would let a trailing newline through
    return int(match.group(1)) if match else None


def ref_of(num: int) -> str:
    return f"refs/pr/{num}"


# Opening


def create(
    hub: Hub,
    actor: Actor | None,
    record: RepoRecord,
    title: object,
    description: object,
    base: str = DEFAULT_BRANCH,
    start: str | None = None,
) -> int:
    """A new pull request onto branch `base`, its ref at `start` (default: the branch head); returns its number."""
    actor = discussions.require_actor(actor, record)
    title, description = discussions.validate_title(title), discussions.validate_comment(description, "description")
    with writing(hub, record) as git:
        head = git.ref_target(f"refs/heads/{base}")
        if head is None:
            raise RevisionNotFound(f"Invalid rev id: {base} is not a branch")
        origin = head if start is None else git.resolve(start)
        with hub.db.session() as session:
            num = discussions.insert_thread(session, actor, record, title, description, base).num
            ref = ref_of(num)
            git.update_ref(ref, origin, expected=git.raw_ref_target(ref))  # one left by a crash is replaced
    return num


# Committing


def authorize_commit(hub: Hub, actor: Actor | None, record: RepoRecord, revision: str, create_pr: bool) -> None:
    """Branches take commits from writers, `refs/pr/N` from its author and writers; anyone with a write token
    who can read the repository may open a pull request onto a branch."""
    if create_pr:
        discussions.require_actor(actor, record)
        if revision.startswith("refs/"):
            raise BadRequest(f"A pull request targets a branch, not {revision}")
        return
    num = pull_request_number(revision)
    if num is None:
        authorize(actor, Action.WRITE, record.target)
    else:
        require_committer(hub, actor, record, num)


def commit(
    hub: Hub, actor: Actor | None, record: RepoRecord, revision: str, request: CommitRequest, create_pr: bool
) -> CommitResult:
    """An API commit to a branch or to `refs/pr/N`, or one opening a pull request onto branch `revision`."""
    authorize_commit(hub, actor, record, revision, create_pr)
    if create_pr:
        return _commit_opening(hub, discussions.require_actor(actor, record), record, revision, request)
    actor = discussions.require_actor(actor, record)  # authorized above: never None here
    commit_id = commits.commit(hub, actor, record, revision, request)
    num = pull_request_number(revision)
    if num is not None:
        _record_commit(hub, actor, record, num, commit_id, request.summary)
    return CommitResult(commit_id, None)


def require_committer(hub: Hub, actor: Actor | None, record: RepoRecord, num: int) -> None:
    """Only an open pull request's author, and people with write access, may commit to its ref."""
    actor = discussions.require_actor(actor, record)
    with hub.db.session() as session:
        try:
            row = discussions.load(session, record, num)
        except NotFound:
            raise RevisionNotFound(f"Invalid rev id: {ref_of(num)} does not exist") from None
        if not row.is_pull_request:
            raise RevisionNotFound(f"Invalid rev id: #{num} is a discussion, not a pull request")
        if row.status not in ("open", "draft"):
            raise Forbidden(f"Pull request #{num} is {row.status}: it takes no more commits")
        if row.author_id != actor.user_id and not discussions.can_write(actor, record):
            raise Forbidden(f"Only the author of pull request #{num} and people with write access can commit to it")


def _commit_opening(hub: Hub, actor: Actor, record: RepoRecord, base: str, request: CommitRequest) -> CommitResult:
    title = request.summary.strip()[: discussions.TITLE_LENGTHS[1]]
    if len(title) < discussions.TITLE_LENGTHS[0]:
        title = f"{title} (pull request)".strip()
    description = request.message.partition("\n")[2].strip() or title
    num = create(hub, actor, record, title, description, base, start=request.parent_commit)
    try:
        commit_id = commits.commit(hub, actor, record, ref_of(num), request)
    except HubError:
        _discard(hub, record, num)  # nothing half-written: no empty pull request stays behind a refused commit
        raise
    _record_commit(hub, actor, record, num, commit_id, request.summary)
    return CommitResult(commit_id, num)


def _record_commit(hub: Hub, actor: Actor, record: RepoRecord, num: int, commit_id: str, subject: str) -> None:
    with hub.db.session() as session:
        discussions.add_commit_event(session, discussions.load(session, record, num), actor, commit_id, subject)


def _discard(hub: Hub, record: RepoRecord, num: int) -> None:
    with writing(hub, record) as git:
        ref = ref_of(num)
        git.update_ref(ref, None, expected=git.raw_ref_target(ref))
        with hub.db.session() as session:
            session.execute(delete(Discussion).where(Discussion.repo_id == record.pk, Discussion.num == num))


# Reading


def changes(hub: Hub, record: RepoRecord, num: int, base: str, with_diff: bool) -> Changes:
    """What pull request `num` changes against branch `base`, and the files that conflict with it."""
    git = open_git(hub, record)
    head, target = git.ref_target(ref_of(num)), git.ref_target(f"refs/heads/{base}")
    if head is None or target is None:
        return Changes([], "")
    conflicts = _merged_index(git, target, head)[1]
    diff = ""
    if with_diff:
        ancestor = git.repo.merge_base(target, head)
        patch = git.repo.diff(str(ancestor) if ancestor else None, head).patch or ""
        diff = patch if len(patch) <= MAX_DIFF_BYTES else patch[:MAX_DIFF_BYTES] + "\n[diff truncated]\n"
    return Changes(conflicts, diff)


# Merging


def merge(hub: Hub, actor: Actor | None, record: RepoRecord, num: int, note: object) -> str:
    """Squash pull request `num` onto its target branch; returns the new commit. The caller checked WRITE."""
    actor = discussions.require_actor(actor, record)
    if note is not None and (not isinstance(note, str) or note.strip()):  # an empty comment is no comment
        note = discussions.validate_comment(note)
    else:
        note = None
    with writing(hub, record) as git:
        with hub.db.session() as session:  # read under the lock: two merges of one PR take turns
            row = discussions.load(session, record, num)
            if not row.is_pull_request:
                raise BadRequest(f"#{num} is a discussion: only pull requests can be merged")
            if row.status not in ("open", "draft"):
                raise Conflict(f"Pull request #{num} is {row.status}: only open pull requests can be merged")
            title, base = row.title, row.target_branch or DEFAULT_BRANCH
        branch_ref = f"refs/heads/{base}"
        target, head = git.ref_target(branch_ref), git.ref_target(ref_of(num))
        if target is None or head is None:
            raise RevisionNotFound(f"Invalid rev id: {base if target is None else ref_of(num)} does not exist")
        tree, conflicts = _merged_index(git, target, head)
        if conflicts:
            error = Conflict(
                f"Pull request #{num} conflicts with {base} in {len(conflicts)} file(s): {', '.join(conflicts[:20])}"
            )
            error.details["filesWithConflicts"] = conflicts
            raise error
        assert tree is not None
        if tree == git.tree_id(target):
            raise BadRequest(f"Pull request #{num} changes nothing in {base}: there is nothing to merge")
        message = f"{title} (#{num})\n"
        merged = git.create_commit(tree, [target], message, signature(actor))
        git.update_ref(branch_ref, merged, expected=target)
        repo_index.after_change(hub, record)  # the index follows the ref, before the next writer starts
        with hub.db.session() as session:
            row = discussions.load(session, record, num)
            row.merge_commit = merged
            if isinstance(note, str):
                discussions.add_comment_event(session, row, actor, note)
            discussions.add_status_event(session, row, actor, "merged")
    return merged


def _merged_index(git: GitRepository, target: str, head: str) -> tuple[str | None, list[str]]:
    """The tree of `target` merged with `head` (None on conflict), and the paths that conflict."""
    repo = git.repo
    ancestor = repo.merge_base(target, head)
    if ancestor is not None and str(ancestor) == target:
        return git.tree_id(head), []  # the branch has not moved: the pull request's own tree
    ancestor_tree = repo[ancestor].tree if ancestor is not None else None
    index = repo.merge_trees(ancestor_tree, repo[target].tree, repo[head].tree)
    if index.conflicts is not None:
        paths = sorted({entry.path for entries in index.conflicts for entry in entries if entry is not None})
        return None, paths
    return str(index.write_tree(repo)), []
