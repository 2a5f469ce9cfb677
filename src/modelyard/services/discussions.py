"""Discussions and pull requests: threads, their timeline of events, and who may change them.

Routes have checked Action.READ on the repository (anyone who can see it may open a thread and comment, with a
token); what needs more is checked here: a thread's author may rename, close and reopen it, people with write
access may do that to any thread and hide any comment. Pull-request refs and merges live in
services.pull_requests.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.db.models import Discussion, DiscussionEvent, DiscussionSettings, User
from modelyard.domain.dates import iso_z, utcnow
from modelyard.domain.errors import BadRequest, Conflict, Forbidden, HubError, NotFound, Unauthorized
from modelyard.domain.repo_ids import validate_name_part
from modelyard.services import markdown
from modelyard.services.access import Action, authorize
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord, writing
from modelyard.services.users import Actor

PAGE_SIZE = 50
TITLE_LENGTHS = (3, 200)
MAX_COMMENT_LENGTH = 65536
STATUSES = ("open", "closed", "merged", "draft")
HIDDEN_COMMENT = "This comment has been hidden"
EVENT_ID = re.compile(r"[0-9a-f]{24}")


@dataclass(frozen=True)
class EventView:
    id: str
    type: str
    created_at: datetime
    author: str | None
    data: dict[str, object]


@dataclass(frozen=True)
class DiscussionView:
    num: int
    title: str
    status: str
    is_pull_request: bool
    created_at: datetime
    author: str | None
    target_branch: str | None
    merge_commit: str | None
    events: list[EventView] = field(default_factory=list)


def can_write(actor: Actor | None, record: RepoRecord) -> bool:
    try:
        authorize(actor, Action.WRITE, record.target)
    except HubError:
        return False
    return True


def require_actor(actor: Actor | None, record: RepoRecord) -> Actor:
    """The actor, if it may contribute to `record` (open threads, comment, commit to its own pull request)."""
    if actor is None:
        raise Unauthorized("This needs a token: send `Authorization: Bearer <token>`")
    authorize(actor, Action.CONTRIBUTE, record.target)
    return actor


def validate_title(title: object) -> str:
    if not isinstance(title, str) or not TITLE_LENGTHS[0] <= len(title.strip()) <= TITLE_LENGTHS[1]:
        raise BadRequest(f"The title must be between {TITLE_LENGTHS[0]} and {TITLE_LENGTHS[1]} characters long")
    return _without_nul(title.strip(), "title")


def validate_comment(comment: object, what: str = "comment") -> str:
    if not isinstance(comment, str) or not comment.strip():
        raise BadRequest(f"The {what} must be a non-empty string")
    if len(comment) > MAX_COMMENT_LENGTH:
        raise BadRequest(f"The {what} is longer than {MAX_COMMENT_LENGTH} characters")
    return _without_nul(comment, what)


def _without_nul(text: str, what: str) -> str:
    # PostgreSQL cannot store NUL in text, and no one means to write one.
    if "\0" in text:
        raise BadRequest(f"The {what} must not contain NUL characters")
    return text


# Opening threads


def insert_thread(
    session: Session, actor: Actor, record: RepoRecord, title: str, description: str, target_branch: str | None
) -> Discussion:
    """A new thread numbered after the repository's last one, with its opening comment (flushed, not committed).

    Callers hold the repository's writer lock, which makes numbering a turn-taking affair across processes; the
    `(repo_id, num)` unique constraint stays the backstop.
    """
    _require_enabled(session, record)
    last = session.scalar(select(func.max(Discussion.num)).where(Discussion.repo_id == record.pk)) or 0
    row = Discussion(
        repo_id=record.pk,
        num=last + 1,
        title=title,
        author_id=actor.user_id,
        status="draft" if target_branch else "open",  # programmatic PRs start as drafts, as on the Hub
        is_pull_request=target_branch is not None,
        target_branch=target_branch,
        created_at=utcnow(),
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("Another discussion was opened at the same moment: try again") from None
    add_comment_event(session, row, actor, description)
    return row


def create_discussion(hub: Hub, actor: Actor | None, record: RepoRecord, title: object, description: object) -> int:
    actor = require_actor(actor, record)
    title, description = validate_title(title), validate_comment(description, "description")
    # The writer lock only to take a number in turn with pull requests (see insert_thread); git is not touched.
    with writing(hub, record), hub.db.session() as session:
        return insert_thread(session, actor, record, title, description, None).num


# Events


def add_comment_event(session: Session, row: Discussion, actor: Actor, content: str) -> DiscussionEvent:
    now = utcnow()
    return _add_event(
        session, row, actor, "comment", content=content, html=markdown.render(content), updated_at=now, at=now
    )


def add_status_event(session: Session, row: Discussion, actor: Actor, status: str) -> DiscussionEvent:
    row.status = status
    return _add_event(session, row, actor, "status-change", detail={"status": status})


def add_commit_event(session: Session, row: Discussion, actor: Actor, oid: str, subject: str) -> None:
    _add_event(session, row, actor, "commit", detail={"oid": oid, "subject": subject})
    if row.status == "draft":  # a draft becomes reviewable with its first commit
        row.status = "open"


def _add_event(
    session: Session, row: Discussion, actor: Actor, kind: str, at: datetime | None = None, **values: object
) -> DiscussionEvent:
    event = DiscussionEvent(
        discussion_id=row.id,
        event_id=secrets.token_hex(12),
        type=kind,
        author_id=actor.user_id,
        created_at=at or utcnow(),
        edited=False,
        hidden=False,
        **values,
    )
    session.add(event)
    session.flush()
    return event


def comment(hub: Hub, actor: Actor | None, record: RepoRecord, num: int, content: object) -> EventView:
    actor = require_actor(actor, record)
    content = validate_comment(content)
    with hub.db.session() as session:
        row = load(session, record, num)
        return _event_view(session, add_comment_event(session, row, actor, content))


def rename(hub: Hub, actor: Actor | None, record: RepoRecord, num: int, title: object) -> EventView:
    actor = require_actor(actor, record)
    title = validate_title(title)
    with hub.db.session() as session:
        row = load(session, record, num)
        _require_author_or_writer(actor, record, row)
        event = _add_event(session, row, actor, "title-change", detail={"from": row.title, "to": title})
        row.title = title
        return _event_view(session, event)


def change_status(
    hub: Hub, actor: Actor | None, record: RepoRecord, num: int, status: object, note: object = None
) -> EventView:
    actor = require_actor(actor, record)
    with hub.db.session() as session:
        row = load(session, record, num)
        _require_author_or_writer(actor, record, row)  # before looking at the request: who may not learns nothing
        if status not in ("open", "closed"):
            raise BadRequest("The new status must be 'open' or 'closed'")
        if row.status == "merged":
            raise Conflict(f"#{num} is merged: its status cannot change any more")
        if row.status == status:
            raise BadRequest(f"#{num} is already {status}")
        if note is not None and (not isinstance(note, str) or note.strip()):
            add_comment_event(session, row, actor, validate_comment(note))
        return _event_view(session, add_status_event(session, row, actor, str(status)))


def edit_comment(
    hub: Hub, actor: Actor | None, record: RepoRecord, num: int, event_id: str, content: object
) -> EventView:
    actor = require_actor(actor, record)
    content = validate_comment(content)
    with hub.db.session() as session:
        event = _load_comment(session, record, num, event_id)
        if event.author_id != actor.user_id:
            raise Forbidden("Only its author can edit a comment")
        if event.hidden:
            raise Conflict("A hidden comment cannot be edited")
        last_editor = event.editor_id or event.author_id
        previous: dict[str, object] = {
            "raw": event.content,
            "html": event.html,
            "updatedAt": iso_z(event.updated_at or event.created_at),
        }
        last_editor_name = _names(session, {last_editor}).get(last_editor or 0)
        if last_editor_name is not None:
            previous["author"] = {"name": last_editor_name}
        history = list((event.detail or {}).get("history", []))
        event.detail = {"history": [previous, *history]}  # newest first; a new dict, so the ORM sees the change
        event.content, event.html = content, markdown.render(content)
        event.edited, event.updated_at, event.editor_id = True, utcnow(), actor.user_id
        return _event_view(session, event)


def hide_comment(hub: Hub, actor: Actor | None, record: RepoRecord, num: int, event_id: str) -> EventView:
    """Hiding is for good, as on the Hub: the content is dropped, not kept out of sight."""
    actor = require_actor(actor, record)
    with hub.db.session() as session:
        event = _load_comment(session, record, num, event_id)
        if event.author_id != actor.user_id and not can_write(actor, record):
            raise Forbidden("Only its author or people with write access can hide a comment")
        event.content, event.html, event.detail = HIDDEN_COMMENT, markdown.render(HIDDEN_COMMENT), None
        event.hidden, event.updated_at, event.editor_id = True, utcnow(), actor.user_id
        return _event_view(session, event)


# Reading


def list_discussions(
    hub: Hub,
    record: RepoRecord,
    page: int,
    kind: str | None,
    status: str | None,
    author: str | None,
) -> tuple[list[DiscussionView], int, int]:
    """One page of threads, newest first, with the total count and the offset of the page."""
    query = select(Discussion).where(Discussion.repo_id == record.pk)
    if kind not in (None, "all", "discussion", "pull_request"):
        raise BadRequest("type must be all, discussion or pull_request")
    if kind in ("discussion", "pull_request"):
        query = query.where(Discussion.is_pull_request == (kind == "pull_request"))
    if status not in (None, "all", "open", "closed", "merged", "draft"):
        raise BadRequest("status must be all, open, closed, merged or draft")
    if status == "open":
        query = query.where(Discussion.status.in_(("open", "draft")))
    elif status == "closed":
        query = query.where(Discussion.status.in_(("closed", "merged")))
    elif status in ("merged", "draft"):
        query = query.where(Discussion.status == status)
    if author:
        author = validate_name_part(author, "author")
        query = query.join(User, Discussion.author_id == User.id).where(func.lower(User.name) == author.lower())
    start = page * PAGE_SIZE
    with hub.db.session() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(Discussion.num.desc()).offset(start).limit(PAGE_SIZE)).all()
        names = _names(session, {row.author_id for row in rows})
        return [_view(row, names) for row in rows], total, start


def details(hub: Hub, record: RepoRecord, num: int) -> DiscussionView:
    with hub.db.session() as session:
        row = load(session, record, num)
        events = session.scalars(
            select(DiscussionEvent).where(DiscussionEvent.discussion_id == row.id).order_by(DiscussionEvent.id)
        ).all()
        names = _names(session, {row.author_id} | {e.author_id for e in events} | {e.editor_id for e in events})
        view = _view(row, names)
        view.events.extend(_event_data(event, names) for event in events)
        return view


def load(session: Session, record: RepoRecord, num: int) -> Discussion:
    _require_enabled(session, record)
    row = session.scalar(select(Discussion).where(Discussion.repo_id == record.pk, Discussion.num == num))
    if row is None:
        raise NotFound(f"Discussion #{num} not found")
    return row


def _load_comment(session: Session, record: RepoRecord, num: int, event_id: str) -> DiscussionEvent:
    row = load(session, record, num)
    if not EVENT_ID.fullmatch(event_id.lower()):
        raise NotFound(f"Comment {event_id!r} not found in #{num}")
    event = session.scalar(
        select(DiscussionEvent).where(
            DiscussionEvent.discussion_id == row.id,
            DiscussionEvent.event_id == event_id.lower(),
            DiscussionEvent.type == "comment",
        )
    )
    if event is None:
        raise NotFound(f"Comment {event_id!r} not found in #{num}")
    return event


def _require_author_or_writer(actor: Actor, record: RepoRecord, row: Discussion) -> None:
    if row.author_id != actor.user_id and not can_write(actor, record):
        raise Forbidden("Only the author of this discussion or people with write access can change it")


# The repository's switch


def set_disabled(hub: Hub, record: RepoRecord, disabled: bool) -> None:
    """Turn the community tab off or on; the caller has checked Action.ADMIN. Threads are kept."""
    with hub.db.session() as session:
        row = session.get(DiscussionSettings, record.pk)
        if row is None:
            session.add(DiscussionSettings(repo_id=record.pk, disabled=disabled))
        else:
            row.disabled = disabled


def is_disabled(hub: Hub, record: RepoRecord) -> bool:
    with hub.db.session() as session:
        return _disabled(session, record)


def _disabled(session: Session, record: RepoRecord) -> bool:
    row = session.get(DiscussionSettings, record.pk)
    return row is not None and row.disabled


def _require_enabled(session: Session, record: RepoRecord) -> None:
    if _disabled(session, record):
        raise Forbidden("Discussions are disabled for this repository")


# Views


def _names(session: Session, user_ids: set[int | None]) -> dict[int, str]:
    ids = {user_id for user_id in user_ids if user_id is not None}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).tuples().all())


def _view(row: Discussion, names: dict[int, str]) -> DiscussionView:
    return DiscussionView(
        num=row.num,
        title=row.title,
        status=row.status,
        is_pull_request=row.is_pull_request,
        created_at=row.created_at,
        author=names.get(row.author_id) if row.author_id is not None else None,
        target_branch=row.target_branch,
        merge_commit=row.merge_commit,
    )


def _event_view(session: Session, event: DiscussionEvent) -> EventView:
    return _event_data(event, _names(session, {event.author_id, event.editor_id}))


def _event_data(event: DiscussionEvent, names: dict[int, str]) -> EventView:
    author = names.get(event.author_id) if event.author_id is not None else None
    data: dict[str, object] = dict(event.detail or {})
    if event.type == "comment":
        editor = names.get(event.editor_id or event.author_id or 0)
        latest: dict[str, object] = {"raw": event.content, "html": event.html, "updatedAt": event.updated_at}
        if editor is not None:
            latest["author"] = {"name": editor}
        history = (event.detail or {}).get("history", [])
        data = {"edited": event.edited, "hidden": event.hidden, "latest": latest, "history": history}
    return EventView(event.event_id, event.type, event.created_at, author, data)
