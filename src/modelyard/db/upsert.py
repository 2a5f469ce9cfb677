"""INSERT … ON CONFLICT, which SQLAlchemy builds per dialect: one place that picks it for both databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session


def dialect_insert(session: Session, model: type) -> Any:
    """An INSERT into `model` that supports `on_conflict_do_nothing` / `on_conflict_do_update`."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the engine factory only makes these two
        raise RuntimeError(f"unsupported database dialect {dialect}")
    return insert(model)
