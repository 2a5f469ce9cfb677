"""repository search: search documents with trigram indexes, Spaces' links, author index

SQLite: an FTS5 table with the trigram tokenizer mirrors repo_search through triggers. PostgreSQL: GIN indexes
with pg_trgm's operator class (the extension is created if missing: it is a trusted extension, so the database's
owner may create it). Existing repositories get their documents here; `modelyard admin reindex` rewrites them.

Revision ID: 0010
Revises: 0009
"""

import json
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from modelyard.domain.listing import search_body, search_document, space_links

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SQLITE_FTS = [
    # The card text and the document are lower-cased before they are stored, so the index need not fold case.
    "CREATE VIRTUAL TABLE repo_search_fts USING fts5(document, body, content='repo_search', "
    "content_rowid='repo_id', tokenize='trigram case_sensitive 1')",
    "CREATE TRIGGER repo_search_inserted AFTER INSERT ON repo_search BEGIN "
    "INSERT INTO repo_search_fts(rowid, document, body) VALUES (new.repo_id, new.document, new.body); END",
    "CREATE TRIGGER repo_search_deleted AFTER DELETE ON repo_search BEGIN "
    "INSERT INTO repo_search_fts(repo_search_fts, rowid, document, body) "
    "VALUES ('delete', old.repo_id, old.document, old.body); END",
    "CREATE TRIGGER repo_search_updated AFTER UPDATE ON repo_search BEGIN "
    "INSERT INTO repo_search_fts(repo_search_fts, rowid, document, body) "
    "VALUES ('delete', old.repo_id, old.document, old.body); "
    "INSERT INTO repo_search_fts(rowid, document, body) VALUES (new.repo_id, new.document, new.body); END",
]
POSTGRESQL_TRIGRAMS = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_repo_search_document_trgm ON repo_search USING gin (document gin_trgm_ops)",
    "CREATE INDEX ix_repo_search_body_trgm ON repo_search USING gin (body gin_trgm_ops)",
]


def upgrade() -> None:
    op.create_table(
        "repo_search",
        sa.Column("repo_id", sa.Integer(), sa.ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_table(
        "repo_links",
        sa.Column("repo_id", sa.Integer(), sa.ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(length=16), primary_key=True),
        sa.Column("target_key", sa.String(length=200), primary_key=True),
    )
    op.create_index("ix_repo_links_kind_target_key", "repo_links", ["kind", "target_key"])
    op.create_index("ix_repos_type_namespace_key", "repos", ["type", sa.text("lower(namespace)")])
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_FTS if dialect == "sqlite" else POSTGRESQL_TRIGRAMS:
        op.execute(statement)
    _fill_documents()


def _fill_documents() -> None:
    """The documents of the repositories there are, from their rows, cards and tags."""
    bind = op.get_bind()
    tags: dict[int, list[str]] = defaultdict(list)
    for repo_id, tag in bind.execute(sa.text("SELECT repo_id, tag FROM repo_tags")):
        tags[repo_id].append(tag)
    rows = bind.execute(
        sa.text(
            "SELECT r.id, r.type, r.namespace, r.name, c.title, c.card_text, c.card FROM repos r "
            "LEFT JOIN repo_cards c ON c.repo_id = r.id"
        )
    ).all()
    documents = [
        {
            "repo_id": repo_id,
            "document": search_document(f"{namespace}/{name}", title or "", tags[repo_id]),
            "body": search_body(card_text or ""),
        }
        for repo_id, _, namespace, name, title, card_text, _ in rows
    ]
    # The Spaces' links, as services/search_documents.index_repo writes them (list_spaces(models=…), `spaces`).
    links = [
        {"repo_id": repo_id, "kind": kind, "target_key": key}
        for repo_id, repo_type, _, _, _, _, card in rows
        if repo_type == "space" and card is not None
        for kind, key in sorted(space_links(_json(card)))
    ]
    if links:
        bind.execute(
            sa.text("INSERT INTO repo_links (repo_id, kind, target_key) VALUES (:repo_id, :kind, :target_key)"), links
        )
    if documents:
        bind.execute(
            sa.text("INSERT INTO repo_search (repo_id, document, body) VALUES (:repo_id, :document, :body)"),
            documents,
        )


def _json(card: object) -> dict:
    """A card column as read by a text query: SQLite hands back the JSON text, PostgreSQL the object."""
    value = json.loads(card) if isinstance(card, str) else card
    return value if isinstance(value, dict) else {}


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("repo_search_inserted", "repo_search_deleted", "repo_search_updated"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS repo_search_fts")
    op.drop_index("ix_repos_type_namespace_key", "repos")
    op.drop_table("repo_links")
    op.drop_table("repo_search")
