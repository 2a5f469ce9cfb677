"""Exit 0 when the test PostgreSQL answers (MODELYARD_TEST_DATABASE_URL, or 127.0.0.1:5432), 1 otherwise."""

from __future__ import annotations

import os
import sys

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def admin_url() -> str:
    url = os.environ.get("MODELYARD_TEST_DATABASE_URL", DEFAULT_URL)
    return url.replace("postgresql+psycopg://", "postgresql://")


def reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(admin_url(), connect_timeout=3):
            return True
    except Exception:
        return False


if __name__ == "__main__":
    sys.exit(0 if reachable() else 1)
