"""Passwords (argon2) and the failed-authentication counters, on a real hub in a temp dir (SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.config import Settings
from modelyard.domain.errors import BadRequest, TooManyRequests, Unauthorized
from modelyard.services import accounts, passwords, throttle
from modelyard.services.hub import Hub


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    hub = Hub.open(Settings(data_dir=tmp_path / "hub", auth_failure_limit=3, auth_failure_window_seconds=60))
    accounts.create_user(hub, "alice", "", "", False, "test")
    accounts.create_user(hub, "bob", "", "", False, "test")
    passwords.set_password(hub, "alice", "correct horse", "test")
    return hub


def test_a_password_is_stored_as_argon2_and_checks_case_insensitively_by_name(hub: Hub):
    [alice] = [user for user in accounts.list_users(hub) if user.name == "alice"]
    assert alice.has_password
    assert passwords.check_login(hub, "ALICE", "correct horse", "10.0.0.1") > 0
    with pytest.raises(Unauthorized):
        passwords.check_login(hub, "alice", "wrong horse", "10.0.0.1")
    with pytest.raises(Unauthorized):
        passwords.check_login(hub, "bob", "no password set", "10.0.0.1")  # tokens only
    with pytest.raises(BadRequest):
        passwords.set_password(hub, "bob", "short", "test")
    with pytest.raises(Unauthorized):
        passwords.check_login(hub, "no\x00name", "whatever", "10.0.0.1")  # never reaches the database as a key


def test_guessing_one_account_is_throttled_from_every_address(hub: Hub):
    for n in range(3):
        with pytest.raises(Unauthorized):
            passwords.check_login(hub, "alice", "guess", f"10.0.0.{n}")  # a new address each time
    with pytest.raises(TooManyRequests) as throttled:
        passwords.check_login(hub, "alice", "correct horse", "10.0.0.99")
    assert 0 < throttled.value.retry_after <= 60
    # Other accounts from a fresh address are not affected.
    passwords.set_password(hub, "bob", "bobs password", "test")
    assert passwords.check_login(hub, "bob", "bobs password", "10.0.0.98") > 0


def test_the_window_ends_and_counting_starts_again(hub: Hub, monkeypatch):
    client = throttle.Client("10.1.1.1")
    for _ in range(3):
        throttle.record_failure(hub, client)
    with pytest.raises(TooManyRequests):
        throttle.check(hub, client)
    later = throttle.time.time() + 61
    monkeypatch.setattr(throttle.time, "time", lambda: later)
    throttle.check(hub, client)  # the window is over
    throttle.record_failure(hub, client)  # opens a new one with one failure
    throttle.check(hub, client)
