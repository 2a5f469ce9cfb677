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
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("id_key", sa.String(length=200), nullable=True))
        op.execute(f"UPDATE {table} SET id_key = lower(namespace || '/' || name)")
        # Fails on purpose where two existing names differ only by case: they must be renamed first.
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column("id_key", existing_type=sa.String(length=200), nullable=False)
            batch_op.create_index(f"ix_{table}_type_id_key", ["type", "id_key"], unique=True)


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_index(f"ix_{table}_type_id_key")
            batch_op.drop_column("id_key")
