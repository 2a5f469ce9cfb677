"""Site administration of users: list them, make or unmake site administrators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from modelyard.db.models import Token, User
from modelyard.services import audit, users
from modelyard.services.hub import Hub
from modelyard.services.users import Actor


@dataclass(frozen=True)
class UserInfo:
    name: str
    fullname: str
    email: str
    is_admin: bool
    has_password: bool
    active_tokens: int
    created_at: datetime


def list_users(hub: Hub) -> list[UserInfo]:
    with hub.db.session() as session:
        active = (
            select(Token.user_id, func.count().label("count"))
            .where(Token.revoked_at.is_(None))
            .group_by(Token.user_id)
            .subquery()
        )
        rows = session.execute(
            select(User, func.coalesce(active.c.count, 0))
            .outerjoin(active, active.c.user_id == User.id)
            .order_by(User.id)
        ).all()
        return [
            UserInfo(u.name, u.fullname, u.email, u.is_admin, u.password_hash is not None, count, u.created_at)
            for u, count in rows
        ]


def create_user(hub: Hub, name: str, fullname: str, email: str, is_admin: bool, by: Actor | str | None) -> None:
    users.create_user(hub, name, fullname, email)
    with hub.db.session() as session:
        audit.record(session, audit.Event.USER_CREATED, f"user:{name}", by, admin=is_admin)
    if is_admin:
        set_admin(hub, name, True, by)


def count_users(hub: Hub) -> int:
    with hub.db.session() as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


def set_admin(hub: Hub, user_name: str, is_admin: bool, by: Actor | str | None) -> None:
    with hub.db.session() as session:
        user = users.user_named(session, user_name)
        if user.is_admin != is_admin:
            user.is_admin = is_admin
            event = audit.Event.ADMIN_GRANTED if is_admin else audit.Event.ADMIN_REVOKED
            audit.record(session, event, f"user:{user.name}", by)
