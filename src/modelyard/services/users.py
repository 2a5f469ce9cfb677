"""Users and their access tokens. Tokens are stored hashed; the clear value is shown once."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.db.models import Organization, OrgMember, Token, TokenGrant, User
from modelyard.domain.access_scopes import Grant
from modelyard.domain.dates import utcnow
from modelyard.domain.errors import BadRequest, Conflict, NotFound, Unauthorized
from modelyard.domain.repo_ids import validate_name_part
from modelyard.services.hub import Hub

TOKEN_PREFIX = "my_"
# Commits made through the API by a user without an email address carry this one.
NOREPLY_DOMAIN = "users.noreply.modelyard"
FINE_GRAINED = "fineGrained"
ROLES = ("read", "write", FINE_GRAINED)


@dataclass(frozen=True)
class Actor:
    """Who makes a request, read afresh from the database on each one; `None` stands for anonymous everywhere.

    What the actor may do is decided by services.access from these fields alone.
    """

    user_id: int
    name: str
    fullname: str
    email: str
    token_name: str
    role: str  # the token's: "read", "write" or "fineGrained"
    token_id: int = 0  # signed URLs and Xet tokens name it, so that they die with the token (services.grants)
    is_admin: bool = False  # a site administrator
    org_roles: Mapping[str, str] = field(default_factory=dict)  # lower-cased organization name -> role
    grants: tuple[Grant, ...] = ()  # the scopes of a fine-grained token


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(hub: Hub, name: str, fullname: str = "", email: str = "") -> None:
    validate_name_part(name, "user name")
    with hub.db.session() as session:
        if session.scalar(select(User).where(func.lower(User.name) == name.lower())) is not None:
            raise Conflict(f"User {name} already exists")
        if session.scalar(select(Organization).where(func.lower(Organization.name) == name.lower())) is not None:
            raise Conflict(f"{name} is the name of an organization")
        session.add(User(name=name, fullname=fullname or name, email=email, created_at=utcnow()))


def user_named(session: Session, name: str) -> User:
    """The user `name` names, whatever its case; NotFound otherwise (without a query for a name no user can have,
    such as one holding a NUL byte, which PostgreSQL refuses to compare)."""
    user = None
    if _is_name(name):
        user = session.scalar(select(User).where(func.lower(User.name) == name.lower()))
    if user is None:
        raise NotFound(f"No user named {name}")
    return user


def _is_name(name: str) -> bool:
    try:
        validate_name_part(name)
    except BadRequest:
        return False
    return True


def create_token(hub: Hub, user_name: str, role: str, token_name: str = "default", grants: Sequence[Grant] = ()) -> str:
    """A new token; a fine-grained one acts only within its `grants`."""
    if role not in ROLES:
        raise BadRequest(f"Unknown role {role!r}: expected read, write or fineGrained")
    if (role == FINE_GRAINED) != bool(grants):
        raise BadRequest("A fine-grained token needs grants, and only a fine-grained token has them")
    token = TOKEN_PREFIX + secrets.token_urlsafe(30)
    with hub.db.session() as session:
        user = user_named(session, user_name)
        row = Token(user_id=user.id, name=token_name, role=role, token_hash=hash_token(token), created_at=utcnow())
        session.add(row)
        session.flush()
        session.add_all(
            TokenGrant(token_id=row.id, entity_type=g.entity_type, entity_name=g.entity_name, permission=g.permission)
            for g in grants
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
    return actor_of(session, *row)


def actor_of(session: Session, token: Token, user: User) -> Actor:
    """The actor a token stands for, with all the access policy needs, read afresh: a change of role or
    membership applies from the next request on."""
    memberships = session.execute(
        select(Organization.name, OrgMember.role)
        .join(OrgMember, OrgMember.org_id == Organization.id)
        .where(OrgMember.user_id == user.id)
    ).all()
    grants: Sequence[TokenGrant] = ()
    if token.role == FINE_GRAINED:  # only these have grants: other tokens skip the query
        grants = session.scalars(select(TokenGrant).where(TokenGrant.token_id == token.id)).all()
    return Actor(
        user.id,
        user.name,
        user.fullname,
        user.email,
        token.name,
        token.role,
        token_id=token.id,
        is_admin=user.is_admin,
        org_roles={org.lower(): role for org, role in memberships},
        grants=tuple(Grant(g.entity_type, g.entity_name, g.permission) for g in grants),
    )


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
