"""Failed authentications, counted per client address and per account, in the database.

A fixed window per key: the first failure opens it; once `auth_failure_limit` failures fall within
`auth_failure_window_seconds`, every authentication for that key answers 429 (with the seconds left as
Retry-After) until the window ends, whether the credentials are right or not: a guesser learns nothing more.
The counters are rows, so every worker process and every host behind the same database count together.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.config import Settings
from modelyard.db.models import AuthFailure
from modelyard.domain.errors import TooManyRequests
from modelyard.services.hub import Hub


@dataclass(frozen=True)
class Client:
    """Who attempts to authenticate: the address the request came from, and the account it names, if any."""

    address: str
    account: str | None = None

    def counter_keys(self) -> list[str]:
        keys = [f"address:{self.address}"]
        if self.account:
            keys.append(f"account:{self.account.lower()}")  # names are case-insensitive
        return keys


def check(hub: Hub, client: Client) -> None:
    """Raise TooManyRequests while the client's address or account is over the limit."""
    with hub.db.session() as session:
        check_in(session, hub.settings, client)


def check_in(session: Session, settings: Settings, client: Client) -> None:
    """`check`, in a session the caller also uses for the authentication itself (one transaction, not two)."""
    now = int(time.time())
    limit, window = settings.auth_failure_limit, settings.auth_failure_window_seconds
    rows = session.scalars(select(AuthFailure).where(AuthFailure.key.in_(client.counter_keys()))).all()
    waits = [row.window_start + window - now for row in rows if row.failures >= limit]
    wait = max((seconds for seconds in waits if seconds > 0), default=0)
    if wait:
        raise TooManyRequests(
            f"Too many failed authentications from this client: try again in {wait} seconds", retry_after=wait
        )


def record_failure(hub: Hub, client: Client) -> None:
    """Count one failed authentication against the client's address and account."""
    now = int(time.time())
    window = hub.settings.auth_failure_window_seconds
    for key in client.counter_keys():
        _count(hub, key, now, window)


def _count(hub: Hub, key: str, now: int, window: int) -> None:
    current = AuthFailure.key == key
    with hub.db.session() as session:
        # One atomic UPDATE: concurrent failures in other processes are all counted.
        bumped = session.execute(
            update(AuthFailure)
            .where(current, AuthFailure.window_start > now - window)
            .values(failures=AuthFailure.failures + 1)
        )
        if bumped.rowcount:  # type: ignore[attr-defined]
            return
        # No open window: forget every finished one (this one included) and open a new one.
        session.execute(delete(AuthFailure).where(AuthFailure.window_start <= now - window))
    try:
        with hub.db.session() as session:
            session.add(AuthFailure(key=key, window_start=now, failures=1))
    except IntegrityError:  # another process opened the window first: count in it
        with hub.db.session() as session:
            session.execute(update(AuthFailure).where(current).values(failures=AuthFailure.failures + 1))
