"""Passwords, for the web pages to come: argon2id hashes (argon2-cffi). The API never needs one: tokens do.

Logins are throttled like tokens, per client address and per account (services.throttle), so that a password
cannot be guessed faster than the configured limit from any number of addresses.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from modelyard.db.models import User
from modelyard.domain.errors import BadRequest, InvalidName, NotFound, Unauthorized
from modelyard.domain.repo_ids import validate_name_part
from modelyard.services import audit, throttle
from modelyard.services.hub import Hub
from modelyard.services.users import Actor

MIN_LENGTH = 8
MAX_LENGTH = 1024  # argon2 hashes anything, but a megabyte of password is only a way to burn server time
_hasher = PasswordHasher()


def set_password(hub: Hub, user_name: str, password: str, by: Actor | str | None) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise BadRequest(f"A password has {MIN_LENGTH} to {MAX_LENGTH} characters")
    hashed = _hasher.hash(password)
    with hub.db.session() as session:
        user = session.scalar(select(User).where(func.lower(User.name) == user_name.lower()))
        if user is None:
            raise NotFound(f"No user named {user_name}")
        user.password_hash = hashed
        audit.record(session, audit.Event.PASSWORD_SET, f"user:{user.name}", by)


def check_login(hub: Hub, user_name: str, password: str, address: str) -> int:
    """The id of the user whose password this is; 401 otherwise, 429 past the failure limit."""
    try:
        validate_name_part(user_name, "user name")
    except InvalidName:
        throttle.record_failure(hub, throttle.Client(address))  # no such account can exist: count the address
        raise Unauthorized("Invalid user name or password") from None
    client = throttle.Client(address, user_name)
    throttle.check(hub, client)
    with hub.db.session() as session:
        user = session.scalar(select(User).where(func.lower(User.name) == user_name.lower()))
        user_id, hashed = (user.id, user.password_hash) if user is not None else (None, None)
    if user_id is None or hashed is None or len(password) > MAX_LENGTH or not _verifies(hashed, password):
        throttle.record_failure(hub, client)
        raise Unauthorized("Invalid user name or password")
    return user_id


def _verifies(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
