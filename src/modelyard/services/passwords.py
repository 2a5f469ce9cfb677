"""Passwords, for the web pages to come: argon2id hashes (argon2-cffi). The API never needs one: tokens do.

Logins are throttled like tokens, per client address and per account (services.throttle), so that a password
cannot be guessed faster than the configured limit from any number of addresses.
"""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from modelyard.domain.errors import BadRequest, InvalidName, NotFound, Unauthorized
from modelyard.domain.repo_ids import validate_name_part
from modelyard.services import audit, throttle, users
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
        user = users.user_named(session, user_name)
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
    try:
        with hub.db.session() as session:
            user = users.user_named(session, user_name)
            user_id, hashed = user.id, user.password_hash
    except NotFound:
        user_id, hashed = 0, None
    # Without a password to check, check a stand-in: the answer takes as long, so it does not tell which names exist.
    verified = _verifies(hashed or _stand_in_hash(), password[:MAX_LENGTH]) and hashed is not None
    if not verified or len(password) > MAX_LENGTH:
        throttle.record_failure(hub, client)
        raise Unauthorized("Invalid user name or password")
    return user_id


@functools.cache
def _stand_in_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def _verifies(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
