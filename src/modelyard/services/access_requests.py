"""Requests to download a gated repository's files: asked by users, decided by the repository's admins.

A user asks (`ask`) with the form the card declares (domain.gated_fields); a repository gated `auto` accepts at
once, `manual` queues the request as pending. Its admins list requests by status and move them between pending,
accepted and rejected (`handle`), or grant access to a user who never asked (`grant`). An accepted request opens
the gate (services.repos.target_for tells the policy); every change is in the audit log.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.db.models import AccessRequest, User
from modelyard.domain.dates import utcnow
from modelyard.domain.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from modelyard.domain.gated_fields import validate_answers
from modelyard.domain.revisions import DEFAULT_BRANCH
from modelyard.services import audit, files, users
from modelyard.services.access import ACCEPTED, PENDING, REJECTED
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor

STATUSES = (PENDING, ACCEPTED, REJECTED)
# What a decision is logged as; back to pending (a cancellation) withdraws access like a rejection.
_DECISION_EVENT = {
    ACCEPTED: audit.Event.ACCESS_GRANTED,
    REJECTED: audit.Event.ACCESS_REJECTED,
    PENDING: audit.Event.ACCESS_REJECTED,
}


@dataclass(frozen=True)
class RequestView:
    request_id: str
    user: str
    fullname: str
    email: str
    status: str
    timestamp: datetime
    fields: dict[str, Any] | None

    @classmethod
    def of(cls, row: AccessRequest, user: User) -> RequestView:
        return cls(row.request_id, user.name, user.fullname, user.email, row.status, row.created_at, row.fields)


def parse_status(status: object) -> str:
    if not isinstance(status, str) or status not in STATUSES:
        raise BadRequest(f"Unknown access request status {status!r}: expected one of {', '.join(STATUSES)}")
    return status


def ask(hub: Hub, actor: Actor | None, record: RepoRecord, answers: dict[str, Any]) -> RequestView:
    """`actor`'s request for `record` (which it can see), with the card's form filled in by `answers`."""
    if actor is None:
        raise Unauthorized("You must be authenticated to request access to a gated repository")
    _require_gated(record)
    fields = validate_answers(files.snapshot(hub, record, DEFAULT_BRANCH).card(), answers)
    status = ACCEPTED if record.gated == "auto" else PENDING
    try:
        with hub.db.session() as session:
            existing = _request_of(session, record, actor.user_id)
            if existing is not None:
                if existing.status == REJECTED:
                    raise Forbidden(f"Your request to access {record.ref.id} was rejected by its authors")
                return RequestView.of(existing, session.get_one(User, actor.user_id))
            row = _new_request(session, record, actor.user_id, status, fields)
            target = audit.repo_target(record.ref)
            audit.record(session, audit.Event.ACCESS_REQUESTED, target, actor, user=actor.name)
            if status == ACCEPTED:
                audit.record(session, audit.Event.ACCESS_GRANTED, target, "auto-approval", user=actor.name)
            return RequestView.of(row, session.get_one(User, actor.user_id))
    except IntegrityError:  # the same user asked twice at once: the first one stands
        raise Conflict(f"An access request to {record.ref.id} is already being recorded") from None


def list_requests(hub: Hub, record: RepoRecord, status: str) -> list[RequestView]:
    with hub.db.session() as session:
        rows = session.execute(
            select(AccessRequest, User)
            .join(User, AccessRequest.user_id == User.id)
            .where(AccessRequest.repo_id == record.pk, AccessRequest.status == status)
            .order_by(AccessRequest.created_at, AccessRequest.id)
        ).all()
        return [RequestView.of(row, user) for row, user in rows]


def handle(
    hub: Hub,
    actor: Actor | None,
    record: RepoRecord,
    user: object,
    request_id: object,
    status: str,
    rejection_reason: object = None,
) -> None:
    """Move the request named by `user` or `request_id` to `status` (pending cancels an earlier decision)."""
    _require_gated(record)
    if rejection_reason is not None and (status != REJECTED or not isinstance(rejection_reason, str)):
        raise BadRequest("'rejectionReason' is a text, and only for rejecting a request")
    with hub.db.session() as session:
        row = _named_request(session, record, user, request_id)
        if row.status == status:
            return
        row.status = status
        row.rejection_reason = rejection_reason if status == REJECTED else None
        name = session.get_one(User, row.user_id).name
        audit.record(session, _DECISION_EVENT[status], audit.repo_target(record.ref), actor, user=name, status=status)


def grant(hub: Hub, actor: Actor | None, record: RepoRecord, user: object) -> RequestView:
    """Accept `user`, who may never have asked; 400 when it already has access."""
    _require_gated(record)
    if not isinstance(user, str) or not user:
        raise BadRequest("'user' must name the user to grant access to")
    with hub.db.session() as session:
        account = users.user_named(session, user)
        row = _request_of(session, record, account.id)
        if row is not None and row.status == ACCEPTED:
            raise BadRequest(f"{account.name} already has access to {record.ref.id}")
        if row is None:
            row = _new_request(session, record, account.id, ACCEPTED, None)
        row.status, row.rejection_reason = ACCEPTED, None
        audit.record(session, audit.Event.ACCESS_GRANTED, audit.repo_target(record.ref), actor, user=account.name)
        return RequestView.of(row, account)


def _require_gated(record: RepoRecord) -> None:
    if not record.gated:
        raise BadRequest(f"The repository {record.ref.id} is not gated")


def _request_of(session: Session, record: RepoRecord, user_id: int) -> AccessRequest | None:
    query = select(AccessRequest).where(AccessRequest.repo_id == record.pk, AccessRequest.user_id == user_id)
    return session.scalar(query)


def _named_request(session: Session, record: RepoRecord, user: object, request_id: object) -> AccessRequest:
    if (user is None) == (request_id is None):
        raise BadRequest("Name the request with exactly one of 'user' and 'requestId'")
    if user is not None:
        if not isinstance(user, str):
            raise BadRequest("'user' must be a user name")
        row = _request_of(session, record, users.user_named(session, user).id)
    else:
        if not isinstance(request_id, str):
            raise BadRequest("'requestId' must be a request id")
        query = select(AccessRequest).where(AccessRequest.repo_id == record.pk, AccessRequest.request_id == request_id)
        row = session.scalar(query)
    if row is None:
        raise NotFound(f"No access request to {record.ref.id} from {user or request_id}")
    return row


def _new_request(
    session: Session, record: RepoRecord, user_id: int, status: str, fields: dict[str, Any] | None
) -> AccessRequest:
    row = AccessRequest(
        request_id=secrets.token_hex(12),
        repo_id=record.pk,
        user_id=user_id,
        status=status,
        fields=fields or None,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row
