"""Access tokens' lifecycle: create, list, revoke, authenticate (throttled), and when each was last used."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from modelyard.db.models import Token, User
from modelyard.domain.access_scopes import Grant
from modelyard.domain.dates import iso_z, utcnow
from modelyard.domain.errors import NotFound, Unauthorized
from modelyard.services import audit, throttle, users
from modelyard.services.access import Action, Target, authorize
from modelyard.services.hub import Hub
from modelyard.services.users import Actor

# A token's last use is written at most this often, so that using a token is not a database write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user: str
    name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "createdAt": iso_z(self.created_at),
            "lastUsedAt": iso_z(self.last_used_at) if self.last_used_at else None,
            "revokedAt": iso_z(self.revoked_at) if self.revoked_at else None,
        }


def authenticate(hub: Hub, token: str, client: throttle.Client) -> Actor:
    """The actor of `token`. 429 while the client is over its failure limit, 401 (counted) for a bad token."""
    try:
        with hub.db.session() as session:
            throttle.check_in(session, hub.settings, client)
            actor = users.actor_for_token(session, token)
    except Unauthorized:
        throttle.record_failure(hub, client)
        raise
    _note_use(hub, actor.token_id)
    return actor


def _note_use(hub: Hub, token_id: int) -> None:
    """Record the token's use, unless this process did within the last minute (a conditional UPDATE: other
    processes' writes within the minute make it match nothing)."""
    noted: dict[int, float] = hub.component("token_uses_noted", dict)
    now = time.monotonic()
    if now - noted.get(token_id, -1e9) < LAST_USED_RESOLUTION.total_seconds():
        return
    noted[token_id] = now
    moment = utcnow()
    with hub.db.session() as session:
        session.execute(
            update(Token)
            .where(
                Token.id == token_id,
                or_(Token.last_used_at.is_(None), Token.last_used_at < moment - LAST_USED_RESOLUTION),
            )
            .values(last_used_at=moment)
        )


def create(
    hub: Hub, user_name: str, role: str, token_name: str, by: Actor | str | None, grants: Sequence[Grant] = ()
) -> str:
    """A new token for `user_name` (shown once), logged as created by `by`; a fine-grained one with `grants`."""
    token = users.create_token(hub, user_name, role, token_name, grants)
    with hub.db.session() as session:
        row = session.scalar(select(Token).where(Token.token_hash == users.hash_token(token)))
        assert row is not None
        details: dict[str, object] = {"user": user_name, "name": token_name, "role": role}
        if grants:
            details["grants"] = [f"{g.entity_type}:{g.entity_name}={g.permission}" for g in grants]
        audit.record(session, audit.Event.TOKEN_CREATED, f"token:{row.id}", by, **details)
    return token


def list_tokens(hub: Hub, user_name: str) -> list[TokenInfo]:
    with hub.db.session() as session:
        user = users.user_named(session, user_name)
        rows = session.scalars(select(Token).where(Token.user_id == user.id).order_by(Token.id)).all()
        return [TokenInfo(r.id, user.name, r.name, r.role, r.created_at, r.last_used_at, r.revoked_at) for r in rows]


def revoke(hub: Hub, token_id: int, by: Actor | str | None) -> TokenInfo:
    """Revoke a token: it, and every Xet token and signed URL obtained with it, stop working at the next request."""
    with hub.db.session() as session:
        row = session.get(Token, token_id)
        if row is None:
            raise NotFound(f"No token with id {token_id}")
        user = session.get_one(User, row.user_id)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit.record(session, audit.Event.TOKEN_REVOKED, f"token:{row.id}", by, user=user.name, name=row.name)
        return TokenInfo(row.id, user.name, row.name, row.role, row.created_at, row.last_used_at, row.revoked_at)


def revoke_own(hub: Hub, actor: Actor, token_id: int) -> TokenInfo:
    """A user revokes one of their tokens; another user's token is answered like a missing one."""
    authorize(actor, Action.ACCOUNT, Target(actor.name))
    with hub.db.session() as session:
        row = session.get(Token, token_id)
        if row is None or row.user_id != actor.user_id:
            raise NotFound(f"No token with id {token_id}")
    return revoke(hub, token_id, actor)


def actor_of_token_id(hub: Hub, token_id: int) -> Actor | None:
    """The actor of an unrevoked token, by id; None when it is revoked or unknown."""
    with hub.db.session() as session:
        row = session.execute(
            select(Token, User).join(User, Token.user_id == User.id).where(Token.id == token_id)
        ).first()
        if row is None or row[0].revoked_at is not None:
            return None
        return users.actor_of(session, *row)
