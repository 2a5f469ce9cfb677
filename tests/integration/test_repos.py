"""Repository lifecycle and access control through huggingface_hub: create, move, delete, visibility,
and who may write where."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from helpers import HEX40, repo_state, sha256_bytes, sha256_file, user_files


def test_whoami_reports_the_token_owner(api: HfApi, read_api: HfApi, alice):
    me = api.whoami()
    assert me["name"] == alice.name
    assert me["type"] == "user"
    assert me["auth"]["accessToken"]["role"] == "write"
    assert read_api.whoami()["auth"]["accessToken"]["role"] == "read"


def test_create_model_repo(api: HfApi, anon_api: HfApi, endpoint: str, repo_id: str):
    url = api.create_repo(repo_id)

    assert url.repo_id == repo_id
    assert url.repo_type == "model"
    assert str(url) == f"{endpoint}/{repo_id}"
    info = anon_api.model_info(repo_id)
    assert info.id == repo_id
    assert info.private is False
    assert api.repo_exists(repo_id)
    assert not api.repo_exists(repo_id, repo_type="dataset")


def test_create_dataset_repo(api: HfApi, endpoint: str, repo_id: str):
    url = api.create_repo(repo_id, repo_type="dataset")

    assert url.repo_type == "dataset"
    assert str(url) == f"{endpoint}/datasets/{repo_id}"
    assert api.dataset_info(repo_id).id == repo_id
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(repo_id)  # a dataset is not a model


def test_create_existing_repo_conflicts_unless_exist_ok(api: HfApi, make_repo):
    rid = make_repo({"a.txt": b"a"})
    before = repo_state(api, rid)

    with pytest.raises(HfHubHTTPError) as excinfo:
        api.create_repo(rid)
    assert excinfo.value.response.status_code == 409
    assert api.create_repo(rid, exist_ok=True).repo_id == rid
    assert repo_state(api, rid) == before


def test_delete_repo(api: HfApi, make_repo):
    rid = make_repo({"a.txt": b"a"})
    api.delete_repo(rid)

    with pytest.raises(RepositoryNotFoundError):
        api.model_info(rid)
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo(rid)
    api.delete_repo(rid, missing_ok=True)


def test_move_repo_keeps_content(api: HfApi, make_repo, alice, unique_name, hf_cache):
    files = {"config.json": b'{"moved": true}\n', "weights/model.bin": bytes(range(256)) * 512}
    old = make_repo(files)
    head = api.model_info(old).sha
    new = f"{alice.name}/{unique_name('moved')}"

    api.move_repo(old, new)

    info = api.model_info(new)
    assert info.id == new
    assert info.sha == head
    assert user_files(api.list_repo_files(new)) == set(files)
    for path, data in files.items():
        local = api.hf_hub_download(new, path, cache_dir=hf_cache)
        assert sha256_file(local) == sha256_bytes(data)
    # Like the Hub, the old name redirects to the new repo (it never serves something else).
    old_info = api.model_info(old)
    assert old_info.id == new
    assert old_info.sha == head


def test_private_repo_is_invisible_to_others(
    api: HfApi, anon_api: HfApi, bob_api: HfApi, make_repo, hf_cache, tmp_path
):
    rid = make_repo({"secret.txt": b"top secret\n"})
    api.update_repo_settings(rid, private=True)

    assert api.model_info(rid).private is True
    assert Path(api.hf_hub_download(rid, "secret.txt", cache_dir=hf_cache)).read_bytes() == b"top secret\n"
    assert "secret.txt" in api.list_repo_files(rid)

    for outsider in (anon_api, bob_api):
        cache = tmp_path / f"cache-{id(outsider)}"
        with pytest.raises(RepositoryNotFoundError):
            outsider.model_info(rid)
        with pytest.raises(RepositoryNotFoundError):
            outsider.hf_hub_download(rid, "secret.txt", cache_dir=cache)
        with pytest.raises(RepositoryNotFoundError):
            outsider.list_repo_files(rid)
        with pytest.raises(RepositoryNotFoundError):
            list(outsider.list_repo_tree(rid))
        assert not outsider.repo_exists(rid)

    api.update_repo_settings(rid, private=False)
    assert anon_api.model_info(rid).private is False
    assert "secret.txt" in anon_api.list_repo_files(rid)


def test_create_private_repo(api: HfApi, anon_api: HfApi, repo_id: str):
    api.create_repo(repo_id, private=True)
    assert api.model_info(repo_id).private is True
    with pytest.raises(RepositoryNotFoundError):
        anon_api.model_info(repo_id)


def test_other_user_cannot_write_in_my_namespace(api: HfApi, bob_api: HfApi, make_repo, alice, bob):
    rid = make_repo({"a.txt": b"alice's\n"})
    before = repo_state(api, rid)

    with pytest.raises(HfHubHTTPError) as excinfo:
        bob_api.upload_file(repo_id=rid, path_or_fileobj=b"bob was here\n", path_in_repo="b.txt")
    assert excinfo.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as excinfo:
        bob_api.create_commit(rid, [CommitOperationAdd("a.txt", b"overwritten")], commit_message="hijack")
    assert excinfo.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as excinfo:
        bob_api.delete_file("a.txt", rid)
    assert excinfo.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as excinfo:
        bob_api.create_branch(rid, branch="bobs-branch")
    assert excinfo.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as excinfo:
        bob_api.create_repo(f"{alice.name}/made-by-bob-{rid.rsplit('-', 1)[-1]}")
    assert excinfo.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as excinfo:
        bob_api.update_repo_settings(rid, private=True)
    assert excinfo.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as excinfo:
        bob_api.delete_repo(rid)
    assert excinfo.value.response.status_code == 403

    assert repo_state(api, rid) == before
    assert api.model_info(rid).private is False
    assert [b.name for b in api.list_repo_refs(rid).branches] == ["main"]
    # bob can still read alice's public repo, and write in his own namespace.
    assert bob_api.model_info(rid).sha == before.head
    own = bob_api.create_repo(f"{bob.name}/{rid.split('/')[1]}").repo_id
    commit = bob_api.upload_file(repo_id=own, path_or_fileobj=b"mine\n", path_in_repo="mine.txt")
    assert HEX40.match(commit.oid)


def test_read_only_token_cannot_write(api: HfApi, read_api: HfApi, make_repo, alice, unique_name):
    rid = make_repo({"a.txt": b"a\n"})
    before = repo_state(api, rid)

    assert read_api.model_info(rid).sha == before.head  # reading is fine
    with pytest.raises(HfHubHTTPError) as excinfo:
        read_api.upload_file(repo_id=rid, path_or_fileobj=b"nope\n", path_in_repo="b.txt")
    assert excinfo.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as excinfo:
        read_api.create_repo(f"{alice.name}/{unique_name('readonly')}")
    assert excinfo.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as excinfo:
        read_api.create_tag(rid, tag="v-nope")
    assert excinfo.value.response.status_code == 403
    assert repo_state(api, rid) == before
    assert api.list_repo_refs(rid).tags == []


def test_gating_is_a_setting(api: HfApi, anon_api: HfApi, make_repo):
    rid = make_repo({"weights.txt": b"w\n"})
    api.update_repo_settings(rid, gated="auto")
    assert anon_api.model_info(rid).gated == "auto"  # tests/integration/test_gating.py: what the gate does
    api.update_repo_settings(rid, gated=False)
    info = anon_api.model_info(rid)
    assert info.gated is False
