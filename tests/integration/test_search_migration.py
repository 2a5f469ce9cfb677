"""Migration 0010 gives the repositories already there what the index would: search documents, and the links of
Spaces to the models they name (`list_spaces(models=…)`, a model's `spaces`). On the session's backend."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from conftest import _database
from modelyard.db.database import MIGRATIONS_DIR, make_engine


def _upgrade(engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_spaces_indexed_before_the_migration_keep_their_links(tmp_path: Path) -> None:
    with _database(tmp_path) as url:
        engine = make_engine(url)
        _upgrade(engine, "0009")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO repos (id, type, namespace, name, id_key, storage_key, private, gated, created_at, "
                    "last_modified, downloads, downloads_all_time, likes, trending_score) VALUES (1, 'space', 'org', "
                    "'demo', 'org/demo', 's1', false, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0, 0, 0, 0)"
                )
            )
            connection.execute(
                text(
                    'INSERT INTO repo_cards (repo_id, "commit", card, card_text, title, license, pipeline_tag, '
                    "library_name, warnings, indexed_at) "
                    "VALUES (1, :commit, :card, '', '', '', '', '', '[]', CURRENT_TIMESTAMP)"
                ),
                {"commit": "0" * 40, "card": '{"sdk": "gradio", "models": ["Org/Base"], "datasets": "org/data"}'},
            )
        _upgrade(engine, "head")
        with engine.connect() as connection:
            links = connection.execute(text("SELECT kind, target_key FROM repo_links WHERE repo_id = 1")).all()
        engine.dispose()
    assert sorted(links) == [("dataset", "org/data"), ("model", "org/base")]
