"""Repositories: create, find (with access control), rename, change settings, delete."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from types import ModuleType

import pygit2
from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.db.models import AccessRequest, LfsObject, Repo, RepoRedirect
from modelyard.domain.access_scopes import Level
from modelyard.domain.dates import utcnow
from modelyard.domain.errors import BadRequest, Conflict, NotFound, RepoMoved, RepoNotFound
from modelyard.domain.gitattributes import default_gitattributes
from modelyard.domain.repo_ids import RepoRef, RepoType
from modelyard.domain.revisions import DEFAULT_BRANCH
from modelyard.domain.spaces import initial_readme, validate_sdk
from modelyard.gitstore.repository import GitRepository
from modelyard.services import audit, orgs, search_documents
from modelyard.services.access import Action, Target, authorize, can_see, level, user_level
from modelyard.services.hub import Hub
from modelyard.services.users import Actor, noreply_email

VISIBILITIES = ("public", "private")
GATING_MODES = ("auto", "manual")  # `gated` in settings; False (stored as "") turns gating off


@dataclass(frozen=True)
class RepoRecord:
    """A snapshot of a repository's row, safe to use after its database session ended."""

    pk: int
    ref: RepoRef
    storage_key: str
    private: bool
    gated: str
    created_at: datetime
    last_modified: datetime
    downloads: int
    creator_id: int | None
    downloads_all_time: int
    likes: int
    trending_score: float

    @property
    def target(self) -> Target:
        """What the access policy decides about."""
        return Target(self.ref.namespace, self.ref, self.private, self.creator_id, gated=bool(self.gated))

    @classmethod
    def of(cls, row: Repo) -> RepoRecord:
        return cls(
            pk=row.id,
            ref=RepoRef(RepoType(row.type), row.namespace, row.name),
            storage_key=row.storage_key,
            private=row.private,
            gated=row.gated,
            created_at=row.created_at,
            last_modified=row.last_modified,
            downloads=row.downloads,
            creator_id=row.creator_id,
            downloads_all_time=row.downloads_all_time,
            likes=row.likes,
            trending_score=row.trending_score,
        )


def signature(actor: Actor) -> pygit2.Signature:
    # The user name, as on the Hub: it is what `list_repo_commits` reports as the commit's author.
    return pygit2.Signature(actor.name, actor.email or noreply_email(actor.name))


def named(table: type[Repo] | type[RepoRedirect], ref: RepoRef) -> ColumnElement[bool]:
    """The rows of `table` that `ref` names, whatever the case of its spelling."""
    return and_(table.type == ref.type.value, table.id_key == ref.key)


def _find_row(session: Session, ref: RepoRef) -> Repo | None:
    return session.scalar(select(Repo).where(named(Repo, ref)))


def get_repo(hub: Hub, actor: Actor | None, ref: RepoRef, action: Action = Action.READ) -> RepoRecord:
    """The repository `ref` names, if `actor` may perform `action` on it."""
    with hub.db.session() as session:
        row = _find_row(session, ref)
        if row is None:
            _raise_moved_or_missing(session, actor, ref)
        record = RepoRecord.of(row)
        target = target_for(session, record, actor, action)
    authorize(actor, action, target)
    return record


def authorize_on(hub: Hub, actor: Actor | None, record: RepoRecord, action: Action) -> None:
    """`authorize` for a repository already loaded, when the action is decided after the route's own check."""
    with hub.db.session() as session:
        target = target_for(session, record, actor, action)
    authorize(actor, action, target)


def target_for(session: Session, record: RepoRecord, actor: Actor | None, action: Action) -> Target:
    """What the policy decides `action` on `record` from; downloading a gated repo looks up the actor's request."""
    target = record.target
    if action is Action.DOWNLOAD and target.gated and actor is not None:
        status = select(AccessRequest.status).where(
            AccessRequest.repo_id == record.pk, AccessRequest.user_id == actor.user_id
        )
        target = replace(target, access_request=session.scalar(status) or "")
    return target


def _raise_moved_or_missing(session: Session, actor: Actor | None, ref: RepoRef) -> None:
    redirect = session.scalar(select(RepoRedirect).where(named(RepoRedirect, ref)))
    if redirect is not None:
        target = session.get(Repo, redirect.repo_id)
        if target is not None and can_see(actor, RepoRecord.of(target).target):
            raise RepoMoved(ref.id, f"{target.namespace}/{target.name}")
    raise RepoNotFound()


def open_git(hub: Hub, record: RepoRecord) -> GitRepository:
    return hub.git.open(record.storage_key)


def writing(hub: Hub, record: RepoRecord) -> AbstractContextManager[GitRepository]:
    """The repository's git under its writer lock, the one way to move its refs.

    Every writer (API commits, branch and tag changes, pushes through their pre-receive hook, merges) reads the
    head, writes, moves the ref and updates the index while holding it, so writers take turns instead of racing.
    """
    return hub.git.writing(record.storage_key)


def create_repo(hub: Hub, actor: Actor | None, ref: RepoRef, private: bool, sdk: object = None) -> RepoRecord:
    """A new repository with its first commit; a Space needs a valid `sdk`, which its README.md names."""
    initial = {".gitattributes": default_gitattributes(ref.type)}
    if ref.type is RepoType.SPACE:
        initial["README.md"] = initial_readme(ref.name, validate_sdk(sdk))
    authorize(actor, Action.CREATE_REPO, Target(ref.namespace))
    assert actor is not None
    ref = replace(ref, namespace=orgs.namespace_spelling(hub, ref.namespace))  # as its owner spells it
    storage_key = hub.git.new_key()
    hub.git.create(storage_key)
    try:
        with hub.git.writing(storage_key) as git:
            _initial_commit(git, initial, actor)
        now = utcnow()
        with hub.db.session() as session:
            existing = _find_row(session, ref)
            if existing is not None:
                conflict = Conflict(f"You already created this {ref.type.value} repo: {ref.id}")
                conflict.details["name"] = f"{existing.namespace}/{existing.name}"  # maybe spelled otherwise
                raise conflict
            row = Repo(
                type=ref.type.value,
                namespace=ref.namespace,
                name=ref.name,
                id_key=ref.key,
                storage_key=storage_key,
                private=private,
                gated="",
                created_at=now,
                last_modified=now,
                downloads=0,
                creator_id=actor.user_id,
            )
            session.add(row)
            # A repo taking over a name frees it from any redirect left by an earlier rename.
            session.execute(_delete_redirect(ref))
            session.flush()
            search_documents.index_repo(session, row.id)
            record = RepoRecord.of(row)
    except IntegrityError:
        hub.git.delete(storage_key)
        raise Conflict(f"You already created this {ref.type.value} repo: {ref.id}") from None
    except BaseException:
        hub.git.delete(storage_key)
        raise
    _repo_index().after_change(hub, record)  # its initial commit
    return record


def _initial_commit(git: GitRepository, files: dict[str, bytes], actor: Actor) -> None:
    tree = git.build_tree(None, {path: git.create_blob(content) for path, content in files.items()}, [], [])
    commit = git.create_commit(tree, [], "initial commit", signature(actor))
    git.update_ref(f"refs/heads/{DEFAULT_BRANCH}", commit, expected=None)


def _delete_redirect(ref: RepoRef):  # type: ignore[no-untyped-def]
    return delete(RepoRedirect).where(named(RepoRedirect, ref))


def delete_repo(hub: Hub, actor: Actor | None, ref: RepoRef) -> None:
    record = get_repo(hub, actor, ref, Action.ADMIN)
    with hub.db.session() as session:
        session.execute(delete(Repo).where(Repo.id == record.pk))
        audit.record(session, audit.Event.REPO_DELETED, audit.repo_target(record.ref), actor)
    hub.git.delete(record.storage_key)


def move_repo(hub: Hub, actor: Actor | None, source: RepoRef, target: RepoRef) -> RepoRecord:
    if source.type is not target.type:
        raise BadRequest("A repository keeps its type when it moves")
    record = get_repo(hub, actor, source, Action.ADMIN)
    authorize(actor, Action.CREATE_REPO, Target(target.namespace))
    target = replace(target, namespace=orgs.namespace_spelling(hub, target.namespace))
    try:
        with hub.db.session() as session:
            existing = _find_row(session, target)
            if existing is not None and existing.id != record.pk:  # a change of case only is a rename too
                raise Conflict(f"A {target.type.value} repo named {target.id} already exists")
            row = session.get_one(Repo, record.pk)
            row.namespace, row.name, row.id_key = target.namespace, target.name, target.key
            row.last_modified = utcnow()
            session.execute(_delete_redirect(target))
            if source.key != target.key:
                session.add(
                    RepoRedirect(
                        type=source.type.value,
                        namespace=record.ref.namespace,
                        name=record.ref.name,
                        id_key=record.ref.key,
                        repo_id=row.id,
                    )
                )
            session.flush()
            search_documents.index_repo(session, row.id)
            moved = RepoRecord.of(row)
            audit.record(session, audit.Event.REPO_MOVED, audit.repo_target(record.ref), actor, to=moved.ref.id)
    except IntegrityError:
        raise Conflict(f"A {target.type.value} repo named {target.id} already exists") from None
    _repo_index().after_move(hub, moved)  # a model is not its own base: under its new id, one of its bases may be
    return moved


def _repo_index() -> ModuleType:
    from modelyard.services import repo_index  # imported late: it builds on this module

    return repo_index


def update_settings(
    hub: Hub, record: RepoRecord, private: bool | None, gated: object = None, actor: Actor | None = None
) -> RepoRecord:
    """Change visibility and gating; the caller has checked Action.ADMIN for `actor`."""
    gating = parse_gating(gated)
    with hub.db.session() as session:
        row = session.get_one(Repo, record.pk)
        if gating is not None and gating != row.gated:
            row.gated = gating
            audit.record(
                session, audit.Event.REPO_GATING_CHANGED, audit.repo_target(record.ref), actor, to=gating or "off"
            )
        if private is not None and private != row.private:
            row.private = private
            visibility = "private" if private else "public"
            audit.record(
                session, audit.Event.REPO_VISIBILITY_CHANGED, audit.repo_target(record.ref), actor, to=visibility
            )
        return RepoRecord.of(row)


def touch(hub: Hub, record: RepoRecord) -> None:
    with hub.db.session() as session:
        mark_modified(session, record.pk)


def mark_modified(session: Session, repo_pk: int) -> None:
    # One UPDATE, which matches nothing when the repository was deleted meanwhile (a read-then-write would fail).
    session.execute(update(Repo).where(Repo.id == repo_pk).values(last_modified=utcnow()))


def parse_gating(gated: object) -> str | None:
    """`gated` as the client sends it: "auto", "manual" or False (off); None when not given."""
    if gated is None:
        return None
    if gated is False:
        return ""
    if not isinstance(gated, str) or gated not in GATING_MODES:
        raise BadRequest(f'Unknown gating {gated!r}: expected "auto", "manual" or false')
    return gated


def parse_visibility(visibility: object, private: object) -> bool | None:
    """`visibility` (2.x clients) or the legacy `private` flag; None when neither is given."""
    if visibility is not None:
        if not isinstance(visibility, str) or visibility not in VISIBILITIES:
            raise BadRequest(f"Unknown visibility {visibility!r}: expected public or private")
        return visibility == "private"
    if private is not None and not isinstance(private, bool):
        raise BadRequest(f"'private' must be true or false, not {private!r}")
    return private


def list_owned(hub: Hub, actor: Actor, namespace: str | None) -> list[tuple[RepoRecord, int]]:
    """Every repository of `namespace` (the actor's own by default), private ones included, newest change
    first, each with the bytes of the large files uploaded to it (what `hf repos ls` shows as storage)."""
    namespace = namespace or actor.name
    if user_level(actor, Target(namespace)) < Level.READ:
        raise NotFound(f"Organization {namespace} not found")
    with hub.db.session() as session:
        rows = session.scalars(
            select(Repo).where(func.lower(Repo.namespace) == namespace.lower()).order_by(Repo.last_modified.desc())
        ).all()
        # A fine-grained token lists what its grants reach.
        records = [record for record in map(RepoRecord.of, rows) if level(actor, record.target) >= Level.READ]
        sizes = dict(
            session.execute(
                select(LfsObject.repo_id, func.sum(LfsObject.size))
                .where(LfsObject.repo_id.in_([record.pk for record in records]))
                .group_by(LfsObject.repo_id)
            ).all()
        )
    return [(record, int(sizes.get(record.pk) or 0)) for record in records]
