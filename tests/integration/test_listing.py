"""Listings through huggingface_hub: files, tree (recursive or not, expanded or not), paths-info, refs and
commits, on the shared populated repo (read-only)."""

from __future__ import annotations

from datetime import datetime

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError
from huggingface_hub.hf_api import RepoFile, RepoFolder

from helpers import HEX40, git_blob_sha1, sha256_bytes, user_files


def _folders_of(paths) -> set[str]:
    out = set()
    for path in paths:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return out


def test_list_repo_files(anon_api: HfApi, populated_repo):
    files = anon_api.list_repo_files(populated_repo.repo_id)
    assert len(files) == len(set(files))
    assert user_files(files) == set(populated_repo.files_main)
    assert user_files(anon_api.list_repo_files(populated_repo.repo_id, revision="dev")) == set(populated_repo.files_dev)
    assert user_files(anon_api.list_repo_files(populated_repo.repo_id, revision=populated_repo.c1)) == set(
        populated_repo.files_c1
    )


def test_list_repo_tree_root_not_recursive(anon_api: HfApi, populated_repo):
    entries = list(anon_api.list_repo_tree(populated_repo.repo_id))
    files = {e.path for e in entries if isinstance(e, RepoFile)}
    folders = {e.path for e in entries if isinstance(e, RepoFolder)}

    assert user_files(files) == {"README.md", "config.json"}
    assert folders == {"notes", "weights"}
    for entry in entries:
        if isinstance(entry, RepoFolder):
            assert HEX40.match(entry.tree_id)


def test_list_repo_tree_subfolder(anon_api: HfApi, populated_repo):
    entries = {e.path: e for e in anon_api.list_repo_tree(populated_repo.repo_id, "notes")}
    assert set(entries) == {"notes/a.txt", "notes/sub"}  # paths are from the repo root
    assert isinstance(entries["notes/a.txt"], RepoFile)
    assert isinstance(entries["notes/sub"], RepoFolder)
    assert entries["notes/a.txt"].size == len(populated_repo.files_main["notes/a.txt"])

    deeper = [e.path for e in anon_api.list_repo_tree(populated_repo.repo_id, "notes/sub")]
    assert deeper == ["notes/sub/b.txt"]


def test_list_repo_tree_recursive(anon_api: HfApi, populated_repo):
    entries = list(anon_api.list_repo_tree(populated_repo.repo_id, recursive=True))
    files = {e.path: e for e in entries if isinstance(e, RepoFile)}
    folders = {e.path for e in entries if isinstance(e, RepoFolder)}

    assert user_files(files) == set(populated_repo.files_main)
    assert folders == _folders_of(populated_repo.files_main)
    for path, data in populated_repo.files_main.items():
        entry = files[path]
        assert entry.size == len(data), path
        if path in populated_repo.lfs_paths:
            assert entry.lfs is not None, path
            assert entry.lfs.sha256 == sha256_bytes(data)
            assert entry.lfs.size == len(data)
            assert entry.lfs.pointer_size > 0
            assert HEX40.match(entry.blob_id)  # the git blob of the LFS pointer
        else:
            assert entry.lfs is None, path
            assert entry.blob_id == git_blob_sha1(data), path

    sub = {e.path for e in anon_api.list_repo_tree(populated_repo.repo_id, "notes", recursive=True)}
    assert sub == {"notes/a.txt", "notes/sub", "notes/sub/b.txt"}


def test_list_repo_tree_expand_has_last_commit(anon_api: HfApi, populated_repo):
    entries = {e.path: e for e in anon_api.list_repo_tree(populated_repo.repo_id, recursive=True, expand=True)}

    config = entries["config.json"]
    assert config.last_commit is not None
    assert config.last_commit.oid == populated_repo.c2
    assert config.last_commit.title == populated_repo.messages["c2"]
    assert isinstance(config.last_commit.date, datetime)
    assert config.last_commit.date.tzinfo is not None

    notes = entries["notes/a.txt"]
    assert notes.last_commit.oid == populated_repo.c1
    assert notes.last_commit.title == populated_repo.messages["c1"]
    assert entries["notes"].last_commit is not None
    assert entries["notes"].last_commit.oid == populated_repo.c1

    plain = {e.path: e for e in anon_api.list_repo_tree(populated_repo.repo_id, recursive=True)}
    assert plain["config.json"].last_commit is None


def test_list_repo_tree_errors(anon_api: HfApi, populated_repo):
    with pytest.raises(EntryNotFoundError):
        list(anon_api.list_repo_tree(populated_repo.repo_id, "no-such-folder"))
    with pytest.raises(RevisionNotFoundError):
        list(anon_api.list_repo_tree(populated_repo.repo_id, revision="no-such-branch"))


def test_get_paths_info(anon_api: HfApi, populated_repo):
    infos = anon_api.get_paths_info(
        populated_repo.repo_id, ["config.json", "notes", "weights/small.bin", "missing.txt"]
    )
    by_path = {i.path: i for i in infos}

    assert set(by_path) == {"config.json", "notes", "weights/small.bin"}  # missing paths are left out
    assert isinstance(by_path["config.json"], RepoFile)
    assert by_path["config.json"].size == len(populated_repo.files_main["config.json"])
    assert isinstance(by_path["notes"], RepoFolder)
    assert by_path["weights/small.bin"].lfs.sha256 == sha256_bytes(populated_repo.files_main["weights/small.bin"])

    at_tag = anon_api.get_paths_info(populated_repo.repo_id, "config.json", revision="v1", expand=True)
    assert len(at_tag) == 1
    assert at_tag[0].size == len(populated_repo.files_c1["config.json"])
    assert at_tag[0].last_commit.oid == populated_repo.c1


def test_list_repo_refs(anon_api: HfApi, populated_repo):
    refs = anon_api.list_repo_refs(populated_repo.repo_id)
    branches = {b.name: b for b in refs.branches}
    tags = {t.name: t for t in refs.tags}

    assert set(branches) == {"main", "dev", "feat/x"}
    assert branches["main"].target_commit == populated_repo.c2
    assert branches["main"].ref == "refs/heads/main"
    assert branches["dev"].target_commit == populated_repo.dev
    assert branches["feat/x"].target_commit == populated_repo.feat
    assert branches["feat/x"].ref == "refs/heads/feat/x"
    assert set(tags) == {"v1"}
    assert tags["v1"].target_commit == populated_repo.c1
    assert tags["v1"].ref == "refs/tags/v1"
    assert refs.converts == []


def test_list_repo_commits(anon_api: HfApi, populated_repo):
    commits = anon_api.list_repo_commits(populated_repo.repo_id)
    ids = [c.commit_id for c in commits]

    assert ids[0] == populated_repo.c2  # newest first
    assert ids.index(populated_repo.c2) < ids.index(populated_repo.c1)
    assert populated_repo.dev not in ids  # other branches' commits are not on main
    assert len(ids) == len(set(ids))
    by_id = {c.commit_id: c for c in commits}
    assert by_id[populated_repo.c2].title == populated_repo.messages["c2"]
    assert by_id[populated_repo.c1].title == populated_repo.messages["c1"]
    for commit in commits:
        assert commit.created_at.tzinfo is not None
        assert commit.authors, commit.commit_id
    assert "alice" in by_id[populated_repo.c2].authors

    dev = anon_api.list_repo_commits(populated_repo.repo_id, revision="dev")
    assert dev[0].commit_id == populated_repo.dev
    assert dev[1].commit_id == populated_repo.c1
    assert dev[-1].commit_id == commits[-1].commit_id  # same initial commit

    feat = anon_api.list_repo_commits(populated_repo.repo_id, revision="feat/x")
    assert feat[0].commit_id == populated_repo.feat
    assert feat[0].title == populated_repo.messages["feat"]


def test_list_repo_commits_formatted(anon_api: HfApi, populated_repo):
    commits = anon_api.list_repo_commits(populated_repo.repo_id, formatted=True)
    assert commits[0].commit_id == populated_repo.c2
    assert commits[0].formatted_title is not None
