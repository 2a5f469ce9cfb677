"""The hub index of cards: ModelCard/DatasetCard round trips with the real client, and the index (read with
`modelyard admin index`) following every move of the default branch: API commits, git pushes, pull request
merges, super-squashes, moves, and `modelyard admin reindex` rebuilding it from git."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import Server
from helpers.git import Git


def index_of(server: Server, repo: str) -> dict:
    return json.loads(server.admin("index", repo))


CARD = """---
license: apache-2.0
language:
- en
- fr
library_name: transformers
pipeline_tag: text-generation
tags:
- chat
- 2024
datasets:
- org/data
base_model: org/base-model
---

# My Model

See https://arxiv.org/abs/2307.09288 for details.
"""


def test_model_card_push_load_and_index(server, api, alice, repo_id):
    from huggingface_hub import ModelCard

    api.create_repo(repo_id)
    ModelCard(CARD).push_to_hub(repo_id, token=alice.token)
    card = ModelCard.load(repo_id, token=alice.token)
    assert card.data.license == "apache-2.0"
    assert card.data.base_model == "org/base-model"

    index = index_of(server, repo_id)
    assert index["commit"] == api.model_info(repo_id).sha
    assert index["title"] == "My Model"
    assert index["license"] == "apache-2.0"
    assert index["pipelineTag"] == "text-generation"
    assert index["libraryName"] == "transformers"
    assert index["warnings"] == []
    assert index["cardData"]["language"] == ["en", "fr"]
    assert set(index["tags"]) == {
        "transformers", "text-generation", "chat", "2024", "en", "fr", "dataset:org/data",
        "base_model:org/base-model", "base_model:finetune:org/base-model", "arxiv:2307.09288",
        "license:apache-2.0",
    }  # fmt: skip
    assert index["baseModels"] == [{"id": "org/base-model", "relation": "finetune"}]


def test_metadata_update_reindexes(server, api, alice, make_repo):
    from huggingface_hub import metadata_update

    repo = make_repo({"README.md": CARD.encode()})
    metadata_update(repo, {"license": "mit", "tags": ["chat", "new"]}, overwrite=True, token=alice.token)
    index = index_of(server, repo)
    assert index["license"] == "mit"
    assert {"license:mit", "new", "chat"} <= set(index["tags"])
    assert "license:apache-2.0" not in index["tags"]


def test_dataset_card_tags(server, api, alice, make_repo):
    from huggingface_hub import DatasetCard

    text = """---
license: cc-by-4.0
language: [en]
task_categories: [text-classification]
task_ids: [sentiment-classification]
size_categories: [1K<n<10K]
multilinguality: monolingual
language_creators: [found]
annotations_creators: [crowdsourced]
source_datasets: [original]
pretty_name: Reviews
---
# Reviews
"""
    repo = make_repo(repo_type="dataset")
    DatasetCard(text).push_to_hub(repo, repo_type="dataset", token=alice.token)
    assert DatasetCard.load(repo, repo_type="dataset", token=alice.token).data.pretty_name == "Reviews"
    index = index_of(server, f"datasets/{repo}")
    assert set(index["tags"]) == {
        "license:cc-by-4.0", "language:en", "task_categories:text-classification",
        "task_ids:sentiment-classification", "size_categories:1K<n<10K", "multilinguality:monolingual",
        "language_creators:found", "annotations_creators:crowdsourced", "source_datasets:original",
    }  # fmt: skip
    assert index["baseModels"] == []


def test_new_repo_is_indexed_with_a_warning(server, api, repo_id):
    api.create_repo(repo_id)
    index = index_of(server, repo_id)
    assert index["commit"] == api.model_info(repo_id).sha
    assert index["warnings"] and "README.md" in index["warnings"][0]
    assert index["tags"] == []


def test_relation_inferred_from_files(server, api, make_repo):
    card = b"---\nbase_model: [org/a, org/b]\n---\n"
    merge = make_repo({"README.md": card})
    assert {base["relation"] for base in index_of(server, merge)["baseModels"]} == {"merge"}
    adapter = make_repo({"README.md": b"---\nbase_model: org/a\n---\n", "adapter_config.json": b"{}"})
    assert index_of(server, adapter)["baseModels"] == [{"id": "org/a", "relation": "adapter"}]
    quantized = make_repo(
        {
            "README.md": b"---\nbase_model: org/a\n---\n",
            "config.json": json.dumps(
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "quantization_config": {"bits": 4}}
            ).encode(),
        }
    )
    index = index_of(server, quantized)
    assert index["baseModels"] == [{"id": "org/a", "relation": "quantized"}]
    assert index["config"] == {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "quantization_config": {"bits": 4},
    }
    assert "base_model:quantized:org/a" in index["tags"]


@pytest.fixture
def git(tmp_path: Path, server) -> Git:
    """Plain git (no git-lfs needed: the test pushes a card only), with its own HOME."""
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update({"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"})
    client = Git(home, server.url, env)
    client("config", "--global", "user.name", "Card Tester")
    client("config", "--global", "user.email", "cards@example.com")
    return client


def test_broken_card_committed_by_push_carries_warnings(server, api, alice, make_repo, git, tmp_path):
    """A card the Hub takes but warns about (wrong types of known fields) is pushed and indexed."""
    repo = make_repo()
    git.login(alice.token)
    clone = git.clone(repo, tmp_path / "clone")
    (clone / "README.md").write_text("---\ntags: {a: 1}\npipeline_tag: [x]\nbase_model: not an id\n---\n# T\n")
    git.commit_all(clone, "A card with warnings")
    git("push", "origin", "main", cwd=clone)
    index = index_of(server, repo)
    assert index["commit"] == api.model_info(repo).sha
    assert index["title"] == "T"
    assert any('"tags"' in warning for warning in index["warnings"])
    assert any('"pipeline_tag"' in warning for warning in index["warnings"])
    assert any('"base_model"' in warning for warning in index["warnings"])
    assert index["baseModels"] == [] and index["tags"] == []


def test_pull_request_merge_reindexes(server, api, make_repo):
    from huggingface_hub import CommitOperationAdd

    repo = make_repo({"README.md": CARD.encode()})
    pr = api.create_commit(
        repo,
        [CommitOperationAdd("README.md", CARD.replace("apache-2.0", "mit").encode())],
        commit_message="relicense",
        create_pr=True,
    )
    assert index_of(server, repo)["license"] == "apache-2.0"  # a pull request is not the default branch
    api.merge_pull_request(repo, pr.pr_num)
    index = index_of(server, repo)
    assert index["license"] == "mit"
    assert index["commit"] == api.model_info(repo).sha


def test_super_squash_and_move_reindex(server, api, alice, make_repo, unique_name):
    repo = make_repo({"README.md": CARD.encode()})
    api.super_squash_history(repo)
    assert index_of(server, repo)["commit"] == api.model_info(repo).sha
    # Moved onto the name of its own base, a model is not its own base any more.
    base = f"{alice.name}/{unique_name('base')}"
    api.upload_file(path_or_fileobj=f"---\nbase_model: {base}\n---\n".encode(), path_in_repo="README.md", repo_id=repo)
    assert index_of(server, repo)["baseModels"] == [{"id": base, "relation": "finetune"}]
    api.move_repo(repo, base)
    assert index_of(server, base)["baseModels"] == []


def test_reindex_rebuilds_deleted_rows(server, api, make_repo):
    repo = make_repo({"README.md": CARD.encode()})
    before = index_of(server, repo)
    key = repo.lower()
    _sql(
        server,
        *(
            f"DELETE FROM {table} WHERE repo_id = (SELECT id FROM repos WHERE id_key = '{key}' AND type = 'model')"
            for table in ("repo_tags", "model_bases", "repo_cards")
        ),
    )
    assert index_of(server, repo) is None
    out = server.admin("reindex")
    assert "Indexed" in out
    after = index_of(server, repo)
    assert {**after, "indexedAt": None} == {**before, "indexedAt": None}
    assert "Indexed 1 repositories" in server.admin("reindex", "--repo", repo)  # idempotent
    assert index_of(server, repo)["tags"] == before["tags"]


def test_reindex_of_a_missing_repo_is_refused(server):
    with pytest.raises(RuntimeError, match="No model repository"):
        server.admin("reindex", "--repo", "nobody/nothing")


def _sql(server: Server, *statements: str) -> None:
    """Run SQL on the test server's database (SQLite or PostgreSQL), in one transaction."""
    from sqlalchemy import text

    from modelyard.db.database import make_engine

    engine = make_engine(server.db_url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()
