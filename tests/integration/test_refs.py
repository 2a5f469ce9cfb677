"""Branches and tags through huggingface_hub: create, use, delete; names with a slash."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, RevisionNotFoundError

from helpers import user_files


@pytest.fixture
def two_commit_repo(api: HfApi, make_repo):
    rid = make_repo({"file.txt": b"one\n"}, message="first")
    first = api.model_info(rid).sha
    second = api.upload_file(repo_id=rid, path_or_fileobj=b"two\n", path_in_repo="file.txt").oid
    return rid, first, second


def _branches(api: HfApi, rid: str) -> dict[str, str]:
    return {b.name: b.target_commit for b in api.list_repo_refs(rid).branches}


def _tags(api: HfApi, rid: str) -> dict[str, str]:
    return {t.name: t.target_commit for t in api.list_repo_refs(rid).tags}


def test_create_branch_from_head_and_from_commit(api: HfApi, two_commit_repo, hf_cache: Path):
    rid, first, second = two_commit_repo

    api.create_branch(rid, branch="from-head")
    api.create_branch(rid, branch="from-first", revision=first)
    api.create_branch(rid, branch="from-short-sha", revision=first[:7])

    branches = _branches(api, rid)
    assert branches["from-head"] == second
    assert branches["from-first"] == first
    assert branches["from-short-sha"] == first
    got = Path(api.hf_hub_download(rid, "file.txt", revision="from-first", cache_dir=hf_cache)).read_bytes()
    assert got == b"one\n"


def test_create_existing_branch_conflicts(api: HfApi, two_commit_repo):
    rid, first, _ = two_commit_repo
    api.create_branch(rid, branch="dup", revision=first)

    with pytest.raises(HfHubHTTPError) as excinfo:
        api.create_branch(rid, branch="dup")
    assert excinfo.value.response.status_code == 409
    api.create_branch(rid, branch="dup", exist_ok=True)
    assert _branches(api, rid)["dup"] == first  # exist_ok did not move it


def test_branch_inside_an_existing_branch_name_conflicts(api: HfApi, two_commit_repo):
    """git cannot store refs/heads/dup/x beside the ref refs/heads/dup (nor the other way round): 409, not 500."""
    rid, first, _ = two_commit_repo
    api.create_branch(rid, branch="dup", revision=first)
    api.create_branch(rid, branch="nest/x", revision=first)
    for branch in ("dup/x", "nest", "main/x"):
        with pytest.raises(HfHubHTTPError) as excinfo:
            api.create_branch(rid, branch=branch)
        assert excinfo.value.response.status_code == 409, branch
    assert set(_branches(api, rid)) == {"main", "dup", "nest/x"}


def test_create_branch_from_unknown_revision(api: HfApi, two_commit_repo):
    rid, _, _ = two_commit_repo
    with pytest.raises(RevisionNotFoundError):
        api.create_branch(rid, branch="orphan", revision="no-such-revision")
    assert "orphan" not in _branches(api, rid)


def test_commit_to_branch_leaves_main_alone(api: HfApi, two_commit_repo, hf_cache: Path):
    rid, _, second = two_commit_repo
    api.create_branch(rid, branch="work")
    commit = api.upload_file(repo_id=rid, path_or_fileobj=b"wip\n", path_in_repo="wip.txt", revision="work")

    assert _branches(api, rid) == {"main": second, "work": commit.oid}
    assert "wip.txt" in api.list_repo_files(rid, revision="work")
    assert "wip.txt" not in api.list_repo_files(rid)


def test_delete_branch(api: HfApi, two_commit_repo, hf_cache: Path):
    rid, first, second = two_commit_repo
    api.create_branch(rid, branch="short-lived", revision=first)
    api.delete_branch(rid, branch="short-lived")

    assert set(_branches(api, rid)) == {"main"}
    with pytest.raises(RevisionNotFoundError):
        api.hf_hub_download(rid, "file.txt", revision="short-lived", cache_dir=hf_cache)
    with pytest.raises(HfHubHTTPError) as excinfo:
        api.delete_branch(rid, branch="main")
    assert excinfo.value.response.status_code == 403  # a refused action on the repo, not a malformed request
    assert _branches(api, rid) == {"main": second}
    with pytest.raises(HfHubHTTPError) as excinfo:
        api.delete_branch(rid, branch="never-existed")
    assert excinfo.value.response.status_code == 404


def test_create_and_delete_tag(api: HfApi, two_commit_repo, hf_cache: Path):
    rid, first, second = two_commit_repo

    api.create_tag(rid, tag="v1.0", revision=first, tag_message="first release")
    api.create_tag(rid, tag="latest")
    assert _tags(api, rid) == {"v1.0": first, "latest": second}
    got = Path(api.hf_hub_download(rid, "file.txt", revision="v1.0", cache_dir=hf_cache)).read_bytes()
    assert got == b"one\n"
    assert api.model_info(rid, revision="v1.0").sha == first

    with pytest.raises(HfHubHTTPError) as excinfo:
        api.create_tag(rid, tag="v1.0", revision=second)
    assert excinfo.value.response.status_code == 409
    assert _tags(api, rid)["v1.0"] == first

    api.delete_tag(rid, tag="v1.0")
    assert _tags(api, rid) == {"latest": second}
    with pytest.raises(RevisionNotFoundError):
        api.model_info(rid, revision="v1.0")
    with pytest.raises(RevisionNotFoundError):
        api.delete_tag(rid, tag="v1.0")


def test_branch_with_a_slash(api: HfApi, anon_api: HfApi, two_commit_repo, hf_cache: Path):
    rid, first, _ = two_commit_repo
    api.create_branch(rid, branch="feat/x", revision=first)
    commit = api.upload_file(
        repo_id=rid, path_or_fileobj=b"feature\n", path_in_repo="nested/feature.txt", revision="feat/x"
    )

    assert _branches(api, rid)["feat/x"] == commit.oid
    assert anon_api.model_info(rid, revision="feat/x").sha == commit.oid
    local = Path(anon_api.hf_hub_download(rid, "nested/feature.txt", revision="feat/x", cache_dir=hf_cache))
    assert local.read_bytes() == b"feature\n"
    assert (
        Path(anon_api.hf_hub_download(rid, "file.txt", revision="feat/x", cache_dir=hf_cache)).read_bytes() == b"one\n"
    )

    tree = {e.path for e in anon_api.list_repo_tree(rid, revision="feat/x", recursive=True)}
    assert user_files(tree) == {"file.txt", "nested", "nested/feature.txt"}
    sub = [e.path for e in anon_api.list_repo_tree(rid, "nested", revision="feat/x")]
    assert sub == ["nested/feature.txt"]
    assert anon_api.list_repo_commits(rid, revision="feat/x")[0].commit_id == commit.oid

    api.create_tag(rid, tag="release/1", revision="feat/x")
    assert _tags(api, rid)["release/1"] == commit.oid
    api.delete_tag(rid, tag="release/1")
    api.delete_branch(rid, branch="feat/x")
    assert "feat/x" not in _branches(api, rid)
