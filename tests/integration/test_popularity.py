"""Downloads, likes and trendingScore through the real huggingface_hub client (docs/popularity.md).

Counts reach the database at each flush (every 0.2 s in tests, see conftest.py): `_settles_at` waits for the
expected number, then a few more flushes, so that a count one too high is caught too.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError

from conftest import Server, User, launch_server
from helpers.orgs import Person, make_person

MODEL_FILES = {
    "README.md": b"---\nlicense: mit\n---\n# A tiny model\n",
    "config.json": b'{"model_type": "bert", "hidden_size": 8}\n',
    "tokenizer.json": b'{"version": "1.0"}\n',
    "model.safetensors": os.urandom(256 * 1024),
    "model-00002-of-00002.safetensors": os.urandom(64 * 1024),
}
DATASET_FILES = {
    "README.md": b"---\nlicense: cc0-1.0\n---\n# A tiny dataset\n",
    "data/train.csv": b"text,label\nhello,1\nworld,0\n",
    "data/test.csv": b"text,label\nbye,1\n",
}
SETTLE_SECONDS = 1.0  # five flushes


def _info(api: HfApi, repo_id: str, repo_type: str = "model"):
    return api.repo_info(repo_id, repo_type=repo_type)


def _settles_at(api: HfApi, repo_id: str, downloads: int, repo_type: str = "model", timeout: float = 15.0):
    """The repo's info once `downloads` is reached and stays there for a few more flushes."""
    deadline = time.monotonic() + timeout
    while (info := _info(api, repo_id, repo_type)).downloads < downloads and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(SETTLE_SECONDS)
    info = _info(api, repo_id, repo_type)
    assert (info.downloads, info.downloads_all_time) == (downloads, downloads)
    return info


@pytest.fixture
def model_repo(make_repo) -> str:
    return make_repo(MODEL_FILES)


def test_hf_hub_download_counts_the_query_file_only(api: HfApi, anon_api: HfApi, model_repo: str, tmp_path: Path):
    info = _info(api, model_repo)
    assert (info.downloads, info.downloads_all_time, info.likes, info.trending_score) == (0, 0, 0, 0)
    for path in ("tokenizer.json", "model.safetensors", "model-00002-of-00002.safetensors", "README.md"):
        anon_api.hf_hub_download(model_repo, path, cache_dir=tmp_path / "first")
    _settles_at(api, model_repo, 0)
    anon_api.hf_hub_download(model_repo, "config.json", cache_dir=tmp_path / "first")
    _settles_at(api, model_repo, 1)  # a HEAD and a GET: one download
    # A cached copy checked again (what from_pretrained does on every load) is a download, as on the Hub.
    anon_api.hf_hub_download(model_repo, "config.json", cache_dir=tmp_path / "first")
    _settles_at(api, model_repo, 2)


def test_a_library_named_by_the_card_has_its_own_query_file(api: HfApi, anon_api: HfApi, make_repo, tmp_path: Path):
    adapter = make_repo(
        {
            "README.md": b"---\nlibrary_name: peft\nbase_model: org/base\n---\n# An adapter\n",
            "adapter_config.json": b'{"peft_type": "LORA", "r": 8}\n',
            "config.json": b'{"model_type": "bert"}\n',
        }
    )
    anon_api.hf_hub_download(adapter, "config.json", cache_dir=tmp_path)  # not a PEFT model's query file
    _settles_at(api, adapter, 0)
    anon_api.hf_hub_download(adapter, "adapter_config.json", cache_dir=tmp_path)
    _settles_at(api, adapter, 1)


def test_snapshot_download_is_one_download_not_one_per_file(api: HfApi, anon_api: HfApi, model_repo: str, tmp_path):
    anon_api.snapshot_download(model_repo, cache_dir=tmp_path / "one")
    _settles_at(api, model_repo, 1)
    anon_api.snapshot_download(model_repo, cache_dir=tmp_path / "two")
    listed = {model.id: model for model in api.list_models(author=model_repo.split("/")[0], search=model_repo)}
    assert listed[model_repo].downloads in (1, 2)  # the listing reads the same column, flushed or not yet
    _settles_at(api, model_repo, 2)


def test_plain_http_counts_each_get_and_never_a_partial_read(api: HfApi, http: httpx.Client, model_repo: str):
    url = f"/{model_repo}/resolve/main/config.json"
    assert http.get(url).status_code == 200
    assert http.get(url, headers={"Range": "bytes=4-"}).status_code == 206  # a resume: the same download
    assert http.get(f"/{model_repo}/resolve/main/model.safetensors").status_code == 200
    assert http.get(f"/{model_repo}/resolve/main/no-such-file.json").status_code == 404
    _settles_at(api, model_repo, 1)
    assert http.head(url).status_code == 200
    _settles_at(api, model_repo, 2)


def test_a_dataset_download_is_every_file_one_visitor_takes(
    api: HfApi, bob_api: HfApi, make_repo, tmp_path: Path, alice: User
):
    dataset = make_repo(DATASET_FILES, repo_type="dataset")
    api.snapshot_download(dataset, repo_type="dataset", cache_dir=tmp_path / "alice")
    _settles_at(api, dataset, 1, "dataset")
    # The same visitor within five minutes: the same download, whatever it fetches again.
    api.hf_hub_download(dataset, "data/train.csv", repo_type="dataset", cache_dir=tmp_path / "again")
    _settles_at(api, dataset, 1, "dataset")
    bob_api.snapshot_download(dataset, repo_type="dataset", cache_dir=tmp_path / "bob")
    _settles_at(api, dataset, 2, "dataset")


def test_a_space_has_no_downloads(api: HfApi, http: httpx.Client, make_repo):
    space = f"{api.whoami()['name']}/space-{uuid.uuid4().hex[:8]}"
    api.create_repo(space, repo_type="space", space_sdk="static")
    assert http.get(f"/spaces/{space}/resolve/main/README.md").status_code == 200
    time.sleep(SETTLE_SECONDS)
    # The Hub shows no downloads for Spaces (huggingface_hub's SpaceInfo has no such field): none are counted either.
    assert http.get(f"/api/spaces/{space}").json().get("downloads", 0) == 0


def test_a_file_the_caller_may_not_read_counts_nothing(api: HfApi, bob_api: HfApi, make_repo, tmp_path: Path):
    private = make_repo(MODEL_FILES, private=True)
    with pytest.raises(RepositoryNotFoundError):
        bob_api.hf_hub_download(private, "config.json", cache_dir=tmp_path)
    time.sleep(SETTLE_SECONDS)
    assert _info(api, private).downloads == 0
    api.hf_hub_download(private, "config.json", cache_dir=tmp_path / "owner")
    _settles_at(api, private, 1)
    assert private not in {model.id for model in bob_api.list_models(author=private.split("/")[0])}


# ---- several processes -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_workers(server: Server, tmp_path_factory) -> Iterator[Server]:
    """`modelyard serve --workers 2` on the main server's data dir and database: each process counts on its own."""
    with launch_server(tmp_path_factory.mktemp("two-workers"), share=server, workers=2) as srv:
        yield srv


def test_concurrent_downloaders_on_two_worker_processes(
    api: HfApi, server: Server, two_workers: Server, model_repo: str, tmp_path: Path
):
    downloaders = [make_person(server, "downloader") for _ in range(2)]
    rounds = 6

    def download(person: Person, round_: int) -> None:
        client = HfApi(endpoint=two_workers.url, token=person.token)
        client.snapshot_download(model_repo, cache_dir=tmp_path / f"{person.name}-{round_}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda job: download(*job), [(p, r) for p in downloaders for r in range(rounds)]))
    with httpx.Client(base_url=two_workers.url) as plain:  # curl-like clients, on both processes
        for _ in range(4):
            assert plain.get(f"/{model_repo}/resolve/main/config.json").status_code == 200
    _settles_at(api, model_repo, 2 * rounds + 4)


def test_counts_are_written_when_the_server_stops(api: HfApi, server: Server, model_repo: str, tmp_path: Path):
    slow = {"MODELYARD_DOWNLOAD_FLUSH_SECONDS": "3600"}
    with launch_server(tmp_path / "stopping", share=server, extra_env=slow) as stopping:
        for _ in range(3):
            assert httpx.get(f"{stopping.url}/{model_repo}/resolve/main/config.json").status_code == 200
        time.sleep(SETTLE_SECONDS)
        assert _info(api, model_repo).downloads == 0, "nothing is written before the flush"
    _settles_at(api, model_repo, 3)


# ---- likes ---------------------------------------------------------------------------------------------------
def _like(server: Server, token: str, repo_id: str, repo_type: str = "model", method: str = "POST") -> httpx.Response:
    return httpx.request(
        method, f"{server.url}/api/{repo_type}s/{repo_id}/like", headers={"Authorization": f"Bearer {token}"}
    )


def test_like_and_unlike_are_idempotent(api: HfApi, server: Server, model_repo: str, alice: User, bob: User):
    for _ in range(2):
        assert _like(server, bob.token, model_repo).status_code == 200
    assert _like(server, alice.token, model_repo).status_code == 200
    info = _info(api, model_repo)
    assert info.likes == 2 and info.trending_score >= 2
    assert {user.username for user in api.list_repo_likers(model_repo)} == {alice.name, bob.name}
    for _ in range(2):
        HfApi(endpoint=server.url, token=bob.token).unlike(model_repo)
    assert _info(api, model_repo).likes == 1
    assert [user.username for user in api.list_repo_likers(model_repo)] == [alice.name]
    assert model_repo not in HfApi(endpoint=server.url, token=bob.token).list_liked_repos(bob.name).models


def test_liking_needs_a_user_who_can_see_the_repo(server: Server, make_repo, bob: User, alice_read_token: str):
    public, private = make_repo(), make_repo(private=True)
    assert httpx.post(f"{server.url}/api/models/{public}/like").status_code == 401
    assert _like(server, alice_read_token, public).status_code == 403  # a read-only token acts on nothing
    missing = _like(server, bob.token, f"{public}-missing")
    hidden = _like(server, bob.token, private)
    assert (hidden.status_code, hidden.headers.get("x-error-code"), hidden.content) == (
        missing.status_code,
        missing.headers.get("x-error-code"),
        missing.content,
    )
    assert hidden.status_code == 404


def test_user_likes_and_likers_paginate(server: Server, make_repo, alice: User):
    fans = [make_person(server, "fan") for _ in range(3)]
    repos = [make_repo(repo_type=kind) for kind in ("model", "dataset", "model")]
    kinds = ["model", "dataset", "model"]
    for repo, kind in zip(repos, kinds, strict=True):
        for fan in fans:
            assert _like(server, fan.token, repo, kind).status_code == 200
    fan_api = HfApi(endpoint=server.url, token=fans[0].token)
    liked = fan_api.list_liked_repos(fans[0].name)
    assert (sorted(liked.models), liked.datasets, liked.total) == (sorted([repos[0], repos[2]]), [repos[1]], 3)

    pages = _pages(f"{server.url}/api/users/{fans[0].name}/likes?limit=2")
    assert [len(page) for page in pages] == [2, 1]
    items = [item for page in pages for item in page]
    assert [item["repo"]["name"] for item in items] == list(reversed(repos)), "most recent first"
    assert all(item["createdAt"].endswith("Z") for item in items)

    likers = _pages(f"{server.url}/api/models/{repos[0]}/likers?limit=2")
    assert [len(page) for page in likers] == [2, 1]
    assert {item["user"] for page in likers for item in page} == {fan.name for fan in fans}
    assert set(likers[0][0]) == {"user", "fullname", "avatarUrl"}
    assert {user.username for user in fan_api.list_repo_likers(repos[0])} == {fan.name for fan in fans}


def _pages(url: str) -> list[list[dict]]:
    pages = []
    next_url: str | None = url
    while next_url:
        response = httpx.get(next_url)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        next_url = response.links.get("next", {}).get("url")
    return pages


def test_a_private_repos_likes_are_seen_only_by_who_can_see_it(
    server: Server, api: HfApi, bob_api: HfApi, make_repo, alice: User, bob: User
):
    private = make_repo(private=True)
    public = make_repo()
    for repo in (private, public):
        assert _like(server, alice.token, repo).status_code == 200
    assert private in api.list_liked_repos(alice.name).models
    assert private not in bob_api.list_liked_repos(alice.name).models
    assert public in bob_api.list_liked_repos(alice.name).models
    assert private not in HfApi(endpoint=server.url, token=False).list_liked_repos(alice.name).models
    with pytest.raises(RepositoryNotFoundError):
        list(bob_api.list_repo_likers(private))
    assert httpx.get(f"{server.url}/api/users/no-such-user-{uuid.uuid4().hex[:6]}/likes").status_code == 404


@pytest.mark.parametrize("user", ["a%00b", "x" * 500, "a%20b", "%E2%9C%93"])
def test_likes_of_a_name_no_user_can_have_are_a_404(server: Server, user: str):
    # A NUL byte made PostgreSQL refuse the lookup: a 500.
    assert httpx.get(f"{server.url}/api/users/{user}/likes").status_code == 404


def test_trending_orders_recent_likes_and_downloads(server: Server, api: HfApi, make_repo):
    liked, downloaded, quiet = make_repo(MODEL_FILES), make_repo(MODEL_FILES), make_repo(MODEL_FILES)
    for fan in [make_person(server, "trend") for _ in range(3)]:
        assert _like(server, fan.token, liked).status_code == 200
    with httpx.Client(base_url=server.url) as plain:
        for _ in range(120):  # 1.2 likes' worth today (docs/popularity.md)
            assert plain.get(f"/{downloaded}/resolve/main/config.json").status_code == 200
    _settles_at(api, downloaded, 120)
    scores = {repo: _info(api, repo).trending_score for repo in (liked, downloaded, quiet)}
    assert scores == {liked: 3, downloaded: 1, quiet: 0}
    listed = {m.id: m.trending_score for m in api.list_models(author=liked.split("/")[0]) if m.id in scores}
    assert listed == scores
