"""The audit log: who changed access to what, and when.

Services call `record(session, ...)` inside the transaction that makes the change, so that an event is logged
exactly when the change is committed. Site administrators read it (`list_events`) through the API
(`GET /api/admin/audit`) and `modelyard admin audit`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.db.models import AuditEvent
from modelyard.domain.dates import iso_z, utcnow
from modelyard.domain.errors import BadRequest, Forbidden
from modelyard.domain.repo_ids import RepoRef
from modelyard.services.hub import Hub
from modelyard.services.users import Actor

MAX_PAGE = 1000


class Event(StrEnum):
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    USER_CREATED = "user.created"
    ADMIN_GRANTED = "user.admin-granted"
    ADMIN_REVOKED = "user.admin-revoked"
    PASSWORD_SET = "user.password-set"
    MEMBERSHIP_CHANGED = "org.membership-changed"
    REPO_VISIBILITY_CHANGED = "repo.visibility-changed"
    REPO_GATING_CHANGED = "repo.gating-changed"
    REPO_DELETED = "repo.deleted"
    REPO_MOVED = "repo.moved"
    ACCESS_REQUESTED = "access.requested"
    ACCESS_GRANTED = "access.granted"
    ACCESS_REJECTED = "access.rejected"


@dataclass(frozen=True)
class Entry:
    id: int
    created_at: datetime
    event: str
    actor: str
    target: str
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "createdAt": iso_z(self.created_at),
            "event": self.event,
            "actor": self.actor,
            "target": self.target,
            "details": self.details,
        }


def actor_name(actor: Actor | str | None) -> str:
    """How the log names who acted: the user, a label such as "cli:root", or "" for anonymous."""
    if isinstance(actor, Actor):
        return actor.name
    return actor or ""


def repo_target(ref: RepoRef) -> str:
    return f"{ref.type.value}:{ref.id}"


def record(session: Session, event: Event, target: str, actor: Actor | str | None, **details: Any) -> None:
    """Log `event` on `target` (e.g. "model:alice/demo", "user:bob", "org:acme") in the caller's transaction."""
    session.add(
        AuditEvent(
            created_at=utcnow(),
            event=event.value,
            actor=actor_name(actor)[:200],
            target=target[:300],
            details=json.dumps(details, default=str, sort_keys=True),
        )
    )


def require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("Only site administrators may read the audit log")


def list_events(hub: Hub, limit: int = 100, before: int | None = None, event: str | None = None) -> list[Entry]:
    """The newest events first, `limit` of them, older than the event id `before` when given."""
    limit = max(1, min(limit, MAX_PAGE))
    if event is not None and event not in set(Event):
        raise BadRequest(f"Unknown event {event[:60]!r}: expected one of {', '.join(Event)}")
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    if event:
        query = query.where(AuditEvent.event == event)
    with hub.db.session() as session:
        rows = session.scalars(query).all()
        return [
            Entry(row.id, row.created_at, row.event, row.actor, row.target, json.loads(row.details)) for row in rows
        ]
