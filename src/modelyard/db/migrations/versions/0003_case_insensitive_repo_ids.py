"""case-insensitive repository ids: a lower-cased `id_key` ("namespace/name") on repos and redirects

As on the Hub, `Alice/MyModel` and `alice/mymodel` name the same repository: lookups go through `id_key`,
which is unique per type, while `namespace` and `name` keep the spelling listings show. Names are ASCII
(domain.repo_ids), so SQL's lower() agrees with Python's str.lower() on both SQLite and PostgreSQL.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("repos", "repo_redirects")


def upgrade() -> None:
    # Plain ALTER TABLE, not batch mode: rebuilding `repos` on SQLite would reset its AUTOINCREMENT counter,
    # and repository ids must never be reused. So on SQLite the column stays nullable (the ORM always sets it).
    for table in TABLES:
        op.add_column(table, sa.Column("id_key", sa.String(length=200), nullable=True))
        op.execute(f"UPDATE {table} SET id_key = lower(namespace || '/' || name)")
        if op.get_context().dialect.name != "sqlite":
            op.alter_column(table, "id_key", existing_type=sa.String(length=200), nullable=False)
        # Fails on purpose where two existing names differ only by case: they must be renamed first.
        op.create_index(f"ix_{table}_type_id_key", table, ["type", "id_key"], unique=True)


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_type_id_key", table_name=table)
        op.drop_column(table, "id_key")  # SQLite >= 3.35 drops a column in place
