"""Hub conformance: what a stock client sees for the answers that are easy to get subtly wrong."""

from __future__ import annotations

import time

import httpx
import pytest
from huggingface_hub import CommitOperationDelete, HfApi
from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError


# ----------------------------------------------------------------------------------------------------
# Ids without a namespace (`gpt2`): the Hub answers as for a missing repo.
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("repo_type", ["model", "dataset", "space"])
def test_ids_without_namespace_are_missing_repos(api: HfApi, repo_type: str) -> None:
    assert api.repo_exists("gpt2", repo_type=repo_type) is False
    assert api.file_exists("gpt2", "config.json", repo_type=repo_type) is False
    assert api.revision_exists("gpt2", "main", repo_type=repo_type) is False
    with pytest.raises(RepositoryNotFoundError):
        api.list_repo_commits("gpt2", repo_type=repo_type)
    with pytest.raises(RepositoryNotFoundError):
        api.list_repo_refs("gpt2", repo_type=repo_type)
    with pytest.raises(RepositoryNotFoundError):
        api.list_repo_files("gpt2", repo_type=repo_type)
    with pytest.raises(RepositoryNotFoundError):
        api.hf_hub_download("gpt2", "config.json", repo_type=repo_type)


def test_ids_without_namespace_anonymous(anon_api: HfApi, http: httpx.Client) -> None:
    assert anon_api.repo_exists("gpt2") is False
    with pytest.raises(RepositoryNotFoundError):
        anon_api.hf_hub_download("gpt2", "config.json")
    for method, path in (("GET", "/api/models/gpt2"), ("HEAD", "/gpt2/resolve/main/config.json")):
        response = http.request(method, path)
        assert response.status_code == 401  # anonymous, as the Hub answers for a repo it cannot show
        assert response.headers["X-Error-Code"] == "RepoNotFound"


# ----------------------------------------------------------------------------------------------------
# X-Request-Id: on every response, the client's own when it sent one, and on the server's access log line.
# ----------------------------------------------------------------------------------------------------
def test_request_id_in_client_error_and_server_log(api: HfApi, server, alice) -> None:
    with pytest.raises(RepositoryNotFoundError) as raised:
        api.model_info(f"{alice.name}/no-such-repo-for-request-id")
    request_id = raised.value.request_id
    assert request_id and f"Request ID: {request_id}" in str(raised.value)
    deadline = time.monotonic() + 5
    while f"[{request_id}]" not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)  # the access line is written as the response starts; the log file may lag a little
    assert f'/no-such-repo-for-request-id HTTP/1.1" 404 Not Found [{request_id}]' in server.log_text()


def test_request_id_echoed_or_generated(http: httpx.Client) -> None:
    echoed = http.get("/api/health", headers={"X-Request-Id": "my-trace-42"})
    assert echoed.headers["X-Request-Id"] == "my-trace-42"
    generated = {http.get("/api/health").headers["X-Request-Id"] for _ in range(2)}
    assert len(generated) == 2 and all(generated)
    # A value that could forge a log line or a header is replaced, not echoed.
    forged = http.get("/api/health", headers={"X-Request-Id": "x] 200 OK [y"})
    assert forged.headers["X-Request-Id"] != "x] 200 OK [y"
    for method, path in (("GET", "/api/models/nobody/nothing"), ("HEAD", "/nobody/nothing/resolve/main/f")):
        assert http.request(method, path, headers={"X-Request-Id": "r-1"}).headers["X-Request-Id"] == "r-1"


# ----------------------------------------------------------------------------------------------------
# Commits
# ----------------------------------------------------------------------------------------------------
def test_delete_operation_without_trailing_slash_deletes_a_folder(api: HfApi, make_repo) -> None:
    rid = make_repo({"keep.txt": b"k", "logs/a.txt": b"a", "logs/deep/b.txt": b"b", "logsbook.txt": b"not inside"})
    api.create_commit(rid, [CommitOperationDelete("logs")], commit_message="Drop logs")  # is_folder "auto": False
    assert sorted(api.list_repo_files(rid)) == [".gitattributes", "keep.txt", "logsbook.txt"]
    with pytest.raises(EntryNotFoundError):
        api.create_commit(rid, [CommitOperationDelete("logs")], commit_message="Gone already")
