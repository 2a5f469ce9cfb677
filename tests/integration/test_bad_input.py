"""Bad input gets a clear 4xx and leaves nothing half-written: after every rejected request the branch head
and the file list are exactly what they were before."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from helpers import (
    error_text,
    file_line,
    header_line,
    lfs_batch,
    lfs_file_line,
    ndjson,
    post_commit,
    repo_state,
    sha256_bytes,
)

SEED = {"existing.txt": b"already here\n", "weights/seed.bin": os.urandom(20_000)}


@pytest.fixture
def seeded(api: HfApi, make_repo):
    """A repo with one commit, and its state as a user sees it."""
    rid = make_repo(SEED)
    return rid, repo_state(api, rid)


def _assert_client_error(response: httpx.Response, status: int | tuple[int, ...]) -> None:
    expected = status if isinstance(status, tuple) else (status,)
    assert response.status_code in expected, (
        f"expected {expected}, got {response.status_code}: {error_text(response)[:500]}"
    )
    assert error_text(response).strip(), "a rejected request must say why (X-Error-Message or a JSON error)"


def _upload_actions(response: httpx.Response) -> dict:
    assert response.status_code == 200, error_text(response)
    (obj,) = response.json()["objects"]
    assert "error" not in obj, obj
    return obj["actions"]


MALFORMED = {
    "not-json": b"this is not json at all\n",
    "empty-body": b"",
    "no-header": ndjson(file_line("a.txt", b"a")),
    "header-not-first": ndjson(file_line("a.txt", b"a"), header_line()),
    "truncated-line": ndjson(header_line(), file_line("ok.txt", b"ok")) + b'{"key": "file", "value": {"pa',
    "unknown-key": ndjson(header_line(), {"key": "teleport", "value": {"path": "x"}}),
    "missing-path": ndjson(header_line(), {"key": "file", "value": {"content": "YQ==", "encoding": "base64"}}),
    "bad-base64": ndjson(
        header_line(),
        {"key": "file", "value": {"path": "x.txt", "content": "%%%not base64%%%", "encoding": "base64"}},
    ),
    "empty-summary": ndjson({"key": "header", "value": {"summary": "", "description": ""}}, file_line("a", b"a")),
    "array-line": ndjson(header_line()) + b"[1, 2, 3]\n",
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_commit_body_is_400(alice_http: httpx.Client, api: HfApi, seeded, case: str):
    rid, before = seeded
    response = post_commit(alice_http, rid, MALFORMED[case])
    _assert_client_error(response, 400)
    assert repo_state(api, rid) == before


BAD_PATHS = ["../evil.txt", "/abs.txt", "ok/../../evil.txt", "a/./b.txt", "a//b.txt", ".git/config"]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_path_in_commit_is_400(alice_http: httpx.Client, api: HfApi, seeded, path: str):
    rid, before = seeded
    body = ndjson(header_line(), file_line("fine.txt", b"fine"), file_line(path, b"evil"))
    response = post_commit(alice_http, rid, body)
    _assert_client_error(response, 400)
    assert repo_state(api, rid) == before  # the valid file in the same commit was not written either


@pytest.mark.parametrize("path", ["../existing.txt", "/existing.txt"])
def test_bad_path_in_deletion_is_400(alice_http: httpx.Client, api: HfApi, seeded, path: str):
    rid, before = seeded
    response = post_commit(alice_http, rid, ndjson(header_line(), {"key": "deletedFile", "value": {"path": path}}))
    _assert_client_error(response, 400)
    assert repo_state(api, rid) == before


def test_bad_path_in_preupload_is_400(alice_http: httpx.Client, seeded):
    rid, _ = seeded
    response = alice_http.post(
        f"/api/models/{rid}/preupload/main",
        json={"files": [{"path": "../evil.txt", "sample": "", "size": 4}]},
    )
    _assert_client_error(response, 400)


def test_lfs_file_never_uploaded_is_refused(alice_http: httpx.Client, api: HfApi, seeded):
    rid, before = seeded
    oid = hashlib.sha256(os.urandom(64)).hexdigest()
    body = ndjson(header_line(), file_line("fine.txt", b"fine"), lfs_file_line("weights/ghost.bin", oid, 1234))

    response = post_commit(alice_http, rid, body)

    assert 400 <= response.status_code < 500, error_text(response)
    assert "weights/ghost.bin" in error_text(response), "the error must name the file whose blob is missing"
    assert repo_state(api, rid) == before


def test_lfs_basic_upload_with_wrong_bytes_is_refused(alice_http: httpx.Client, http: httpx.Client, api: HfApi, seeded):
    rid, before = seeded
    good = os.urandom(4096)
    oid = sha256_bytes(good)
    actions = _upload_actions(lfs_batch(alice_http, rid, [(oid, len(good))]))
    upload = actions["upload"]
    assert "chunk_size" not in (upload.get("header") or {}), "a 4 KiB object should get the basic transfer"

    wrong = os.urandom(len(good))  # same size, different content
    put = http.put(upload["href"], content=wrong)  # like huggingface_hub: no Authorization on the PUT
    _assert_client_error(put, tuple(range(400, 500)))

    commit = post_commit(alice_http, rid, ndjson(header_line(), lfs_file_line("weights/claimed.bin", oid, len(good))))
    assert 400 <= commit.status_code < 500, error_text(commit)
    assert repo_state(api, rid) == before
    # The object is still missing: a new batch request asks for it again.
    assert "upload" in _upload_actions(lfs_batch(alice_http, rid, [(oid, len(good))]))


def test_lfs_basic_upload_with_wrong_size_is_refused(alice_http: httpx.Client, http: httpx.Client, api, seeded):
    rid, before = seeded
    good = os.urandom(4096)
    oid = sha256_bytes(good)
    upload = _upload_actions(lfs_batch(alice_http, rid, [(oid, len(good))]))["upload"]

    put = http.put(upload["href"], content=good[:-100])
    _assert_client_error(put, tuple(range(400, 500)))
    commit = post_commit(alice_http, rid, ndjson(header_line(), lfs_file_line("w.bin", oid, len(good))))
    assert 400 <= commit.status_code < 500, error_text(commit)
    assert repo_state(api, rid) == before


def test_unknown_revision(
    alice_http: httpx.Client, http: httpx.Client, anon_api: HfApi, api: HfApi, seeded, hf_cache: Path
):
    rid, before = seeded
    for response in (
        http.get(f"/api/models/{rid}/revision/no-such-rev"),
        http.get(f"/api/models/{rid}/tree/no-such-rev"),
        http.get(f"/api/models/{rid}/commits/no-such-rev"),
        http.head(f"/{rid}/resolve/no-such-rev/existing.txt"),
        http.get(f"/{rid}/resolve/no-such-rev/existing.txt"),
        http.post(f"/api/models/{rid}/paths-info/no-such-rev", data={"paths": ["existing.txt"]}),
    ):
        assert response.status_code == 404, f"{response.request.method} {response.request.url}"
        assert response.headers.get("X-Error-Code") == "RevisionNotFound", (
            f"{response.request.method} {response.request.url}"
        )

    with pytest.raises(RevisionNotFoundError):
        anon_api.hf_hub_download(rid, "existing.txt", revision="no-such-rev", cache_dir=hf_cache)
    with pytest.raises(RevisionNotFoundError):
        anon_api.model_info(rid, revision="no-such-rev")
    with pytest.raises(RevisionNotFoundError):
        anon_api.list_repo_files(rid, revision="no-such-rev")
    with pytest.raises(RevisionNotFoundError):
        anon_api.list_repo_commits(rid, revision="no-such-rev")
    with pytest.raises(RevisionNotFoundError):
        anon_api.hf_hub_download(rid, "existing.txt", revision="f" * 40, cache_dir=hf_cache)

    commit = post_commit(alice_http, rid, ndjson(header_line(), file_line("x.txt", b"x")), revision="no-such-rev")
    assert commit.status_code == 404
    assert commit.headers.get("X-Error-Code") == "RevisionNotFound"
    with pytest.raises(RevisionNotFoundError):
        api.upload_file(repo_id=rid, path_or_fileobj=b"x", path_in_repo="x.txt", revision="no-such-rev")
    assert repo_state(api, rid) == before
    assert {b.name for b in api.list_repo_refs(rid).branches} == {"main"}


def test_commit_to_missing_repo(alice_http: httpx.Client, api: HfApi, alice):
    rid = f"{alice.name}/this-repo-does-not-exist"
    response = post_commit(alice_http, rid, ndjson(header_line(), file_line("a.txt", b"a")))
    assert response.status_code == 404
    assert response.headers.get("X-Error-Code") == "RepoNotFound"

    with pytest.raises(RepositoryNotFoundError):
        api.upload_file(repo_id=rid, path_or_fileobj=b"a", path_in_repo="a.txt")
    with pytest.raises(RepositoryNotFoundError):
        api.create_commit(rid, [CommitOperationAdd("a.txt", b"a")], commit_message="into the void")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(rid)
    assert not api.repo_exists(rid)


def test_delete_missing_file_raw(alice_http: httpx.Client, api: HfApi, seeded):
    rid, before = seeded
    body = ndjson(header_line(), {"key": "deletedFile", "value": {"path": "nope.txt"}})
    response = post_commit(alice_http, rid, body)
    assert response.status_code == 404
    assert response.headers.get("X-Error-Code") == "EntryNotFound"
    assert repo_state(api, rid) == before


def test_invalid_readme_metadata_is_refused_by_the_client(api: HfApi, seeded):
    rid, before = seeded
    with pytest.raises(ValueError, match=r"(?i)invalid metadata"):
        api.upload_file(
            repo_id=rid, path_or_fileobj=b"---\nlicense: [unclosed\n---\n# Card\n", path_in_repo="README.md"
        )
    assert repo_state(api, rid) == before


def test_anonymous_and_bad_token_cannot_commit(http: httpx.Client, server, api: HfApi, seeded):
    rid, before = seeded
    body = ndjson(header_line(), file_line("anon.txt", b"anon"))

    anonymous = post_commit(http, rid, body)
    assert anonymous.status_code == 401, error_text(anonymous)  # no credentials at all: 401 asks for them
    with httpx.Client(base_url=server.url, headers={"Authorization": "Bearer hf_not_a_real_token"}) as bad:
        forged = post_commit(bad, rid, body)
    assert forged.status_code == 401, error_text(forged)
    assert repo_state(api, rid) == before


# ----------------------------------------------------------------------------------------------------
# Size limit, on a separate server started with MODELYARD_MAX_FILE_SIZE=1 MiB.
# ----------------------------------------------------------------------------------------------------
@pytest.fixture
def limited(limited_server):
    api = limited_server.api()
    rid = f"{limited_server.user.name}/limited-{os.urandom(4).hex()}"
    api.create_repo(rid)
    api.upload_file(repo_id=rid, path_or_fileobj=b"small\n", path_in_repo="small.txt")
    headers = {"Authorization": f"Bearer {limited_server.user.token}"}
    with httpx.Client(base_url=limited_server.url, headers=headers, timeout=120) as client:
        yield limited_server, api, rid, client


def test_file_over_size_limit_lfs_batch_is_413(limited):
    server, api, rid, client = limited
    before = repo_state(api, rid)
    size = server.max_file_size + 1
    response = lfs_batch(client, rid, [(hashlib.sha256(b"x" * size).hexdigest(), size)])

    # The whole batch is refused with 413 (git-lfs's batch API documents 413), not a per-object error: the
    # client then raises an HTTP error carrying the status, instead of a bare ValueError.
    assert response.status_code == 413, error_text(response)
    assert repo_state(api, rid) == before


def test_file_over_size_limit_regular_commit_is_413(limited):
    server, api, rid, client = limited
    before = repo_state(api, rid)
    big_text = b"0123456789abcdef\n" * (server.max_file_size // 17 + 100)
    assert len(big_text) > server.max_file_size

    response = post_commit(client, rid, ndjson(header_line(), file_line("too-big.txt", big_text)))
    assert response.status_code == 413, error_text(response)
    assert repo_state(api, rid) == before


def test_file_at_exactly_the_size_limit_is_accepted(limited):
    """The limits are "larger than": a regular file of exactly the limit commits, and an lfsFile of exactly the
    limit is judged on whether it was uploaded (400), not on its size (413)."""
    server, api, rid, client = limited
    exact = b"y" * server.max_file_size
    assert post_commit(client, rid, ndjson(header_line(), file_line("exact.txt", exact))).status_code == 200
    assert "exact.txt" in api.list_repo_files(rid)
    unknown = lfs_file_line("exact.bin", sha256_bytes(b"never sent"), server.max_file_size)
    response = post_commit(client, rid, ndjson(header_line(), unknown))
    assert response.status_code == 400 and "never uploaded" in error_text(response)


def test_file_over_size_limit_with_the_client(limited):
    server, api, rid, _ = limited
    before = repo_state(api, rid)

    with pytest.raises(HfHubHTTPError) as excinfo:
        api.upload_file(repo_id=rid, path_or_fileobj=os.urandom(server.max_file_size + 1), path_in_repo="big.bin")
    assert excinfo.value.response.status_code == 413
    assert str(server.max_file_size) in str(excinfo.value)  # the message names the limit
    assert repo_state(api, rid) == before

    ok = os.urandom(server.max_file_size // 2)
    api.upload_file(repo_id=rid, path_or_fileobj=ok, path_in_repo="ok.bin")  # under the limit is fine
    assert "ok.bin" in api.list_repo_files(rid)
