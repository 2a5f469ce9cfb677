"""the hub index: card metadata, tags, model tree, likes and downloads

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _repo_id(primary_key: bool = True) -> sa.Column:
    return sa.Column(
        "repo_id", sa.Integer(), sa.ForeignKey("repos.id", ondelete="CASCADE"), nullable=False, primary_key=primary_key
    )


def upgrade() -> None:
    with op.batch_alter_table("repos") as batch:
        batch.add_column(sa.Column("downloads_all_time", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("likes", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("trending_score", sa.Float(), nullable=False, server_default="0"))
    for column in ("downloads", "likes", "trending_score", "created_at", "last_modified"):
        op.create_index(f"ix_repos_type_{column}", "repos", ["type", column])
    op.create_table(
        "repo_cards",
        _repo_id(),
        sa.Column("commit", sa.String(length=40), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("card_text", sa.Text(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("license", sa.String(length=100), nullable=False),
        sa.Column("pipeline_tag", sa.String(length=100), nullable=False),
        sa.Column("library_name", sa.String(length=100), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("safetensors", sa.JSON(), nullable=True),
        sa.Column("gguf", sa.JSON(), nullable=True),
        sa.Column("config", sa.JSON(), nullable=True),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table("repo_tags", _repo_id(), sa.Column("tag", sa.String(length=300), nullable=False, primary_key=True))
    op.create_index("ix_repo_tags_tag_repo_id", "repo_tags", ["tag", "repo_id"])
    op.create_table(
        "model_bases",
        _repo_id(),
        sa.Column("base_key", sa.String(length=200), nullable=False, primary_key=True),
        sa.Column("base_id", sa.String(length=200), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
    )
    op.create_index("ix_model_bases_base_key_relation", "model_bases", ["base_key", "relation"])
    op.create_table(
        "likes",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        _repo_id(),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_likes_repo_id", "likes", ["repo_id"])
    op.create_table(
        "download_days",
        _repo_id(),
        sa.Column("day", sa.Date(), nullable=False, primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    for table in ("download_days", "likes", "model_bases", "repo_tags", "repo_cards"):
        op.drop_table(table)
    for column in ("downloads", "likes", "trending_score", "created_at", "last_modified"):
        op.drop_index(f"ix_repos_type_{column}", "repos")
    with op.batch_alter_table("repos") as batch:
        for column in ("trending_score", "likes", "downloads_all_time"):
            batch.drop_column(column)
