"""Whether the PostgreSQL test run can happen, and whether it must.

Exit 0 when the test PostgreSQL answers (MODELYARD_TEST_DATABASE_URL, or 127.0.0.1:5432). Otherwise exit 1
(skip the run), except under CI (`CI=true`), where the machines start PostgreSQL: there a missing database is
a broken setup, so exit 2 and say so, rather than let the PostgreSQL run vanish behind a "skipping" line.
"""

from __future__ import annotations

import os
import sys

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def admin_url() -> str:
    url = os.environ.get("MODELYARD_TEST_DATABASE_URL", DEFAULT_URL)
    return url.replace("postgresql+psycopg://", "postgresql://")


def required() -> bool:
    """CI machines start PostgreSQL, so there its absence is an error, never a reason to skip."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(admin_url(), connect_timeout=3):
            return True
    except Exception:
        return False


if __name__ == "__main__":
    if reachable():
        sys.exit(0)
    if required():
        print(f"CI=true but PostgreSQL at {admin_url()} is not reachable: the PostgreSQL run must not be skipped")
        sys.exit(2)
    sys.exit(1)
