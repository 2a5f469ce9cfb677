"""One user can never read or replace another user's large files, whatever hash or stale token they hold."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from helpers import error_text, file_line, header_line, ndjson, post_commit, sha256_bytes
from helpers.xet import build_upload
from modelyard.domain.lfs_pointer import LfsPointer


@pytest.fixture
def bob_http(server, bob) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {bob.token}"}) as client:
        yield client


@pytest.fixture
def alice_secret(make_repo) -> tuple[str, bytes]:
    """A private repo of alice's holding an LFS file, and that file's bytes."""
    secret = os.urandom(5000)
    return make_repo({"secret.bin": secret}, private=True), secret


def _bob_repo(bob_api, unique_name) -> str:
    repo_id = f"bob/{unique_name()}"
    bob_api.create_repo(repo_id)
    return repo_id


def _download_urls(client: httpx.Client, repo_id: str, oid: str, size: int) -> list[str]:
    body = {"operation": "download", "transfers": ["basic"], "objects": [{"oid": oid, "size": size}]}
    response = client.post(f"/{repo_id}.git/info/lfs/objects/batch", json=body)
    assert response.status_code == 200, error_text(response)
    return [obj["actions"]["download"]["href"] for obj in response.json()["objects"] if "actions" in obj]


def test_pointer_text_in_a_regular_file_does_not_reach_another_repos_blob(
    alice_secret, bob_api, bob_http, http, unique_name
):
    _, secret = alice_secret
    thief = _bob_repo(bob_api, unique_name)
    pointer = LfsPointer(sha256_bytes(secret), len(secret)).encode()
    response = post_commit(bob_http, thief, ndjson(header_line("steal"), file_line("stolen.bin", pointer)))
    assert response.status_code == 400
    assert "stolen.bin" in error_text(response) and "never uploaded" in error_text(response)
    missing = http.get(f"/{thief}/resolve/main/stolen.bin")
    assert missing.status_code == 404  # the repo is public and readable: only the file is missing
    assert missing.headers["X-Error-Code"] == "EntryNotFound"


def test_a_xet_shard_claiming_another_repos_sha256_only_names_its_own_bytes(
    alice_secret, bob_api, bob_http, http, unique_name
):
    _, secret = alice_secret
    oid = sha256_bytes(secret)
    thief = _bob_repo(bob_api, unique_name)
    token = bob_http.get(f"/api/models/{thief}/xet-write-token/main").json()
    junk = build_upload(b"not the secret " * 400, claimed_sha256=oid)
    cas = {"Authorization": f"Bearer {token['accessToken']}"}
    assert httpx.post(f"{token['casUrl']}/v1/xorbs/default/{junk.xorb_hash}", content=junk.xorb, headers=cas).is_success
    assert httpx.post(f"{token['casUrl']}/v1/shards", content=junk.shard, headers=cas).is_success

    # The LFS download path of bob's repo never hands out alice's blob for that hash.
    for url in _download_urls(bob_http, thief, oid, len(secret)):
        assert httpx.get(url).content != secret
    # Committing the claimed object is refused: the server hashes bob's bytes, and they are not that sha256.
    body = ndjson(header_line("claim"), {"key": "lfsFile", "value": {"path": "c.bin", "oid": oid, "algo": "sha256"}})
    response = post_commit(bob_http, thief, body)
    assert response.status_code == 400 and "holds other bytes" in error_text(response)
    assert http.get(f"/{thief}/resolve/main/c.bin").status_code in (401, 404)


def test_repository_ids_are_never_reused(api, bob_api, alice_http, make_repo, unique_name):
    doomed = make_repo()
    old_id = api.model_info(doomed)._id
    token = alice_http.get(f"/api/models/{doomed}/xet-write-token/main").json()
    api.delete_repo(doomed)
    fresh = _bob_repo(bob_api, unique_name)
    assert bob_api.model_info(fresh)._id != old_id
    # The dead repository's token registers nothing anywhere.
    upload = build_upload(os.urandom(1000))
    cas = {"Authorization": f"Bearer {token['accessToken']}"}
    httpx.post(f"{token['casUrl']}/v1/xorbs/default/{upload.xorb_hash}", content=upload.xorb, headers=cas)
    response = httpx.post(f"{token['casUrl']}/v1/shards", content=upload.shard, headers=cas)
    assert 400 <= response.status_code < 500
