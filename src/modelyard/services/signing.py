"""Self-authenticating URLs: LFS upload URLs are called without any Authorization header."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from modelyard.db.models import ServerSetting
from modelyard.domain.errors import UrlRefused
from modelyard.services.hub import Hub

_KEY_NAME = "url_signing_key"


def signing_key(hub: Hub) -> bytes:
    """The configured key, or one generated on first use and shared by every process through the database.

    It never changes once generated, so it is read once per hub: async routes call this on the event loop.
    """
    return hub.component(_KEY_NAME, lambda: _load_key(hub))


def _load_key(hub: Hub) -> bytes:
    if hub.settings.secret_key:
        return hub.settings.secret_key.encode()
    with hub.db.session() as session:
        row = session.scalar(select(ServerSetting).where(ServerSetting.key == _KEY_NAME))
        if row is not None:
            return row.value.encode()
    try:
        with hub.db.session() as session:
            session.add(ServerSetting(key=_KEY_NAME, value=secrets.token_hex(32)))
    except IntegrityError:
        pass  # another process generated it first
    return _load_key(hub)


def sign(key: bytes, *parts: object) -> str:
    message = "\x1f".join(str(part) for part in parts).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def expiry(ttl_seconds: int) -> int:
    return int(time.time()) + ttl_seconds


def matches(expected: str, signature: str) -> bool:
    """Constant-time comparison with a signature taken from a request, which may hold any character."""
    return signature.isascii() and hmac.compare_digest(expected, signature)


def check(key: bytes, signature: str, expires: int, *parts: object) -> None:
    if expires < time.time() or not matches(sign(key, expires, *parts), signature):
        raise UrlRefused("This transfer URL is invalid or has expired: ask the batch endpoint for a new one")
