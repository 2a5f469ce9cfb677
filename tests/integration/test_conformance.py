"""Hub conformance: what a stock client sees for the answers that are easy to get subtly wrong."""

from __future__ import annotations

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError


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
