"""Users and their access tokens. Tokens are stored hashed; the clear value is shown once."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.db.models import Token, User
from modelyard.domain.dates import utcnow
from modelyard.domain.errors import BadRequest, Conflict, NotFound, Unauthorized
from modelyard.domain.repo_ids import validate_name_part
from modelyard.services.hub import Hub

TOKEN_PREFIX = "my_"
# Commits made through the API by a user without an email address carry this one.
NOREPLY_DOMAIN = "users.noreply.modelyard"
ROLES = ("read", "write")


@dataclass(frozen=True)
class Actor:
    """Who makes a request; `None` stands for anonymous everywhere."""

    user_id: int
    name: str
    fullname: str
    email: str
    token_name: str
    role: str  # "read" or "write"
    token_id: int = 0  # signed URLs and Xet tokens name it, so that they die with the token (services.grants)
    is_admin: bool = False  # a site administrator

    @property
    def can_write(self) -> bool:
        return self.role == "write"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(hub: Hub, name: str, fullname: str = "", email: str = "") -> None:
    validate_name_part(name, "user name")
    with hub.db.session() as session:
        if session.scalar(select(User).where(func.lower(User.name) == name.lower())) is not None:
            raise Conflict(f"User {name} already exists")
        session.add(User(name=name, fullname=fullname or name, email=email, created_at=utcnow()))


def create_token(hub: Hub, user_name: str, role: str, token_name: str = "default") -> str:
    if role not in ROLES:
        raise BadRequest(f"Unknown role {role!r}: expected read or write")
    token = TOKEN_PREFIX + secrets.token_urlsafe(30)
    with hub.db.session() as session:
        user = session.scalar(select(User).where(func.lower(User.name) == user_name.lower()))
        if user is None:
            raise NotFound(f"No user named {user_name}")
        session.add(
            Token(user_id=user.id, name=token_name, role=role, token_hash=hash_token(token), created_at=utcnow())
        )
    return token


def authenticate(hub: Hub, token: str) -> Actor:
    """The actor a token stands for. Front doors go through services.tokens.authenticate, which throttles.

    The lookup is by the sha256 of the token, an index search: it leaks nothing about stored values that a
    comparison's timing could reveal (what an attacker controls is the hash's preimage, not the hash)."""
    with hub.db.session() as session:
        return actor_for_token(session, token)


def actor_for_token(session: Session, token: str) -> Actor:
    row = session.execute(
        select(Token, User).join(User, Token.user_id == User.id).where(Token.token_hash == hash_token(token))
    ).first()
    if row is None or row[0].revoked_at is not None:
        raise Unauthorized("Invalid credentials in Authorization header")
    return actor_of(*row)


def actor_of(token: Token, user: User) -> Actor:
    return Actor(user.id, user.name, user.fullname, user.email, token.name, token.role, token.id, user.is_admin)


def noreply_email(user_name: str) -> str:
    return f"{user_name}@{NOREPLY_DOMAIN}"


def commit_authors(hub: Hub, emails: Iterable[str]) -> dict[str, str]:
    """The Hub user behind each git author email (keys lower-cased), as the Hub links commits to accounts:
    the user whose account email it is, or whose no-reply address it is. Unknown emails are left out."""
    wanted = {email.lower() for email in emails if email}
    noreply_names = {email.rpartition("@")[0] for email in wanted if email.endswith(f"@{NOREPLY_DOMAIN}")}
    if not wanted:
        return {}
    with hub.db.session() as session:
        rows = session.execute(
            select(User.name, User.email).where(
                func.lower(User.email).in_(wanted) | func.lower(User.name).in_(noreply_names)
            )
        ).all()
    found: dict[str, str] = {}
    for name, email in rows:
        for address in (email.lower(), noreply_email(name).lower()):
            if address in wanted:
                found[address] = name
    return found
