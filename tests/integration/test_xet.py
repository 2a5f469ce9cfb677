"""Xet storage with the stock client (hf_xet enabled): uploads, downloads, LFS <-> Xet interop, the CAS API's
refusals, and storage accounting.

conftest sets HF_HUB_DISABLE_XET=1 for the session; the `xet` fixture switches Xet back on for one test (the
client reads the constant at call time) and gives hf_xet a fresh local cache (HF_XET_CACHE is read per upload),
so every upload really talks to the server. Which path a transfer took is read from the server's access log.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

import httpx
import pytest

from helpers import (
    HEX64,
    error_text,
    header_line,
    lfs_file_line,
    ndjson,
    post_commit,
    read_tree,
    sha256_bytes,
    sha256_file,
    write_tree,
)
from helpers.xet import Upload, build_upload

CAS = "/xet-cas"


# ----------------------------------------------------------------------------------------------------
# Fixtures and helpers
# ----------------------------------------------------------------------------------------------------
@pytest.fixture
def xet(monkeypatch, tmp_path: Path) -> None:
    """Let huggingface_hub use hf_xet in this test, with an empty hf_xet cache."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "xet-cache"))
    monkeypatch.setenv("HF_XET_TELEMETRY_ENABLED", "false")


class ServerLog:
    """The server's access-log lines written since this object was created."""

    def __init__(self, server) -> None:
        self.server = server
        self.start = len(server.log_text())

    def lines(self, needle: str) -> list[str]:
        return [line for line in self.server.log_text()[self.start :].splitlines() if needle in line]


def _random(size: int) -> bytes:
    return os.urandom(size)


def _mixed(size: int) -> bytes:
    """Half random, half repetitive: the client stores some chunks raw and LZ4-compresses others."""
    pattern = b"modelyard xet chunk " * 64
    half = size // 2
    return os.urandom(half) + (pattern * (size // len(pattern) + 1))[: size - half]


def _resolve_url(endpoint: str, repo_id: str, path: str, revision: str = "main", repo_type: str = "model") -> str:
    prefix = {"model": "", "dataset": "datasets/", "space": "spaces/"}[repo_type]
    return f"{endpoint}/{prefix}{repo_id}/resolve/{revision}/{path}"


def _wait_for_xet_hash(endpoint: str, repo_id: str, path: str, timeout: float = 60.0) -> httpx.Response:
    """HEAD until the file advertises a Xet reconstruction (LFS uploads are converted in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.head(_resolve_url(endpoint, repo_id, path), timeout=30)
        if "x-xet-hash" in response.headers or time.monotonic() > deadline:
            return response
        time.sleep(0.25)


def _storage(client: httpx.Client) -> dict:
    response = client.get("/api/storage")
    assert response.status_code == 200, error_text(response)
    return response.json()


# ----------------------------------------------------------------------------------------------------
# Uploads and downloads with the stock client
# ----------------------------------------------------------------------------------------------------
def test_upload_file_and_download_through_xet(xet, server, api, repo_id: str, tmp_path: Path, hf_cache: Path):
    from huggingface_hub import hf_hub_download

    data = _mixed(12 * 1024 * 1024 + 17)
    source = tmp_path / "weights.bin"
    source.write_bytes(data)
    api.create_repo(repo_id)

    log = ServerLog(server)
    commit = api.upload_file(path_or_fileobj=source, path_in_repo="weights.bin", repo_id=repo_id)
    assert log.lines("POST /xet-cas/v1/xorbs/"), "the upload did not go through Xet"
    assert log.lines("POST /xet-cas/v1/shards")
    assert not log.lines(".git/info/lfs/objects/batch")

    head = httpx.head(_resolve_url(server.url, repo_id, "weights.bin"))
    assert head.status_code == 200
    assert head.headers["x-repo-commit"] == commit.oid
    assert head.headers["x-linked-etag"].strip('"') == sha256_bytes(data)
    assert int(head.headers["x-linked-size"]) == len(data)
    assert HEX64.match(head.headers["x-xet-hash"])
    assert head.headers["link"] == (f'<{server.url}/api/models/{repo_id}/xet-read-token/{commit.oid}>; rel="xet-auth"')
    entries = {e.path: e for e in api.list_repo_tree(repo_id)}
    assert entries["weights.bin"].xet_hash == head.headers["x-xet-hash"]
    assert entries["weights.bin"].lfs.sha256 == sha256_bytes(data)
    assert entries[".gitattributes"].xet_hash is None

    log = ServerLog(server)
    path = hf_hub_download(repo_id, "weights.bin", cache_dir=hf_cache)
    assert Path(path).read_bytes() == data
    assert log.lines(f"GET /xet-cas/v1/reconstructions/{head.headers['x-xet-hash']}"), "not downloaded via Xet"
    assert log.lines("GET /xet-cas/v1/fetch/")
    assert not log.lines("GET /" + repo_id + "/resolve/main/weights.bin")


def test_upload_folder_and_snapshot_download(xet, server, api, repo_id: str, tmp_path: Path):
    from huggingface_hub import snapshot_download

    files = {
        "model.safetensors": _random(3 * 1024 * 1024 + 5),
        "shards/part-1.bin": _mixed(5 * 1024 * 1024),
        "shards/part-2.bin": _random(700 * 1024),
        "config.json": b'{"hidden_size": 64}\n',
        "README.md": b"# Xet folder\n",
    }
    folder = write_tree(tmp_path / "folder", files)
    api.create_repo(repo_id)
    log = ServerLog(server)
    api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="Upload folder through Xet")
    assert log.lines("POST /xet-cas/v1/shards")

    tree = {e.path: e for e in api.list_repo_tree(repo_id, recursive=True) if hasattr(e, "size")}
    for name in ("model.safetensors", "shards/part-1.bin", "shards/part-2.bin"):
        assert tree[name].lfs is not None and tree[name].xet_hash, name
    assert tree["config.json"].xet_hash is None

    log = ServerLog(server)
    local = Path(snapshot_download(repo_id, cache_dir=tmp_path / "snapshot-cache"))
    assert read_tree(local) == {".gitattributes": read_tree(local)[".gitattributes"], **files}
    assert len(log.lines("GET /xet-cas/v1/reconstructions/")) >= 3


@pytest.mark.parametrize("repo_type", ["dataset", "space"])
def test_dataset_and_space_repos_through_xet(xet, server, api, repo_id: str, repo_type: str, tmp_path: Path):
    from huggingface_hub import hf_hub_download

    data = _random(1024 * 1024 + 9)
    api.create_repo(repo_id, repo_type=repo_type, **({"space_sdk": "static"} if repo_type == "space" else {}))
    log = ServerLog(server)
    commit = api.upload_file(path_or_fileobj=data, path_in_repo="data/blob.bin", repo_id=repo_id, repo_type=repo_type)
    assert log.lines(f"GET /api/{repo_type}s/{repo_id}/xet-write-token/main")
    head = httpx.head(_resolve_url(server.url, repo_id, "data/blob.bin", repo_type=repo_type))
    assert head.headers["link"] == (
        f'<{server.url}/api/{repo_type}s/{repo_id}/xet-read-token/{commit.oid}>; rel="xet-auth"'
    )
    log = ServerLog(server)
    path = hf_hub_download(repo_id, "data/blob.bin", repo_type=repo_type, cache_dir=tmp_path / "cache")
    assert Path(path).read_bytes() == data
    assert log.lines("GET /xet-cas/v1/reconstructions/")


@pytest.mark.slow
def test_multi_xorb_file_roundtrip_and_plain_get(xet, server, api, repo_id: str, tmp_path: Path, hf_cache: Path):
    """Over 64 MiB: several xorbs; Xet download and plain GET give the same bytes."""
    from huggingface_hub import hf_hub_download

    size = 70 * 1024 * 1024 + 3
    source = tmp_path / "big.bin"
    with open(source, "wb") as fh:
        for _ in range(size // (8 * 1024 * 1024)):
            fh.write(os.urandom(8 * 1024 * 1024))
        fh.write(os.urandom(size % (8 * 1024 * 1024)))
    digest = sha256_file(source)
    api.create_repo(repo_id)
    log = ServerLog(server)
    api.upload_file(path_or_fileobj=source, path_in_repo="big.bin", repo_id=repo_id)
    assert len(log.lines("POST /xet-cas/v1/xorbs/")) >= 2

    assert sha256_file(hf_hub_download(repo_id, "big.bin", cache_dir=hf_cache)) == digest
    plain = hashlib.sha256()
    with httpx.stream("GET", _resolve_url(server.url, repo_id, "big.bin"), timeout=300) as response:
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == size
        for piece in response.iter_bytes():
            plain.update(piece)
    assert plain.hexdigest() == digest


@pytest.mark.slow
def test_transformers_push_to_hub_and_from_pretrained_through_xet(xet, server, alice, repo_id: str, tmp_path: Path):
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=512, n_positions=64, n_embd=64, n_layer=2, n_head=2)
    torch.manual_seed(7)
    model = GPT2LMHeadModel(config).eval()
    log = ServerLog(server)
    model.push_to_hub(repo_id, token=alice.token, commit_message="Add tiny GPT-2 through Xet")
    assert log.lines("POST /xet-cas/v1/shards"), "the weights did not go through Xet"

    log = ServerLog(server)
    loaded = AutoModelForCausalLM.from_pretrained(repo_id, cache_dir=tmp_path / "fresh-cache").eval()
    assert log.lines("GET /xet-cas/v1/reconstructions/")
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, loaded(ids).logits)


# ----------------------------------------------------------------------------------------------------
# LFS <-> Xet interop
# ----------------------------------------------------------------------------------------------------
def test_lfs_upload_then_download_through_xet(
    server, api, alice_http: httpx.Client, repo_id: str, monkeypatch, tmp_path: Path, hf_cache: Path
):
    from huggingface_hub import constants, hf_hub_download

    data = _mixed(6 * 1024 * 1024 + 1)
    api.create_repo(repo_id)
    log = ServerLog(server)
    api.upload_file(path_or_fileobj=data, path_in_repo="lfs.bin", repo_id=repo_id)  # Xet off: LFS batch
    assert log.lines(".git/info/lfs/objects/batch")
    # The client never asked for a Xet token. (Not "no shard was uploaded": the server's own LFS -> Xet conversion
    # uploads one, and may have done so before upload_file returned.)
    assert not log.lines("/xet-write-token/")

    head = _wait_for_xet_hash(server.url, repo_id, "lfs.bin")
    assert "x-xet-hash" in head.headers, "the LFS object was not converted to Xet"
    assert head.headers["x-linked-etag"].strip('"') == sha256_bytes(data)

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "xet-cache"))
    log = ServerLog(server)
    path = hf_hub_download(repo_id, "lfs.bin", cache_dir=hf_cache)
    assert Path(path).read_bytes() == data
    assert log.lines(f"GET /xet-cas/v1/reconstructions/{head.headers['x-xet-hash']}")

    # The conversion is visible in the accounting: the object has a Xet copy.
    storage = alice_http.get(f"/api/models/{repo_id}/storage").json()
    assert storage["objects"] == 1 and storage["xetObjects"] == 1
    assert storage["logicalBytes"] == len(data)


def test_evicted_lfs_blob_is_served_from_xet(server, api, alice_http, http, repo_id: str, monkeypatch, tmp_path):
    """`modelyard admin xet-evict-lfs` drops LFS blobs that have a verified Xet copy: every path still works."""
    from huggingface_hub import constants, hf_hub_download

    data = _mixed(3 * 1024 * 1024 + 7)
    oid = sha256_bytes(data)
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=data, path_in_repo="evict.bin", repo_id=repo_id)  # Xet off: LFS
    assert "x-xet-hash" in _wait_for_xet_hash(server.url, repo_id, "evict.bin").headers
    before = alice_http.get(f"/api/models/{repo_id}/storage").json()
    assert before["lfsStoredBytes"] == len(data) and before["xetStoredBytes"] > 0

    assert "Would delete 1 LFS blobs" in server.admin("xet-evict-lfs", "--repo", repo_id, "--dry-run")
    assert f"Deleted 1 LFS blobs, {len(data)} bytes" in server.admin("xet-evict-lfs", "--repo", repo_id)
    after = alice_http.get(f"/api/models/{repo_id}/storage").json()
    assert after["lfsStoredBytes"] == 0
    assert after["storedBytes"] == after["xetStoredBytes"] == before["xetStoredBytes"]

    url = f"/{repo_id}/resolve/main/evict.bin"
    assert http.get(url).content == data
    part = http.get(url, headers={"Range": "bytes=1000-200000"})
    assert part.status_code == 206 and part.content == data[1000:200001]
    batch = alice_http.post(
        f"/{repo_id}.git/info/lfs/objects/batch",
        json={"operation": "download", "objects": [{"oid": oid, "size": len(data)}]},
        headers={"Accept": "application/vnd.git-lfs+json"},
    )
    href = batch.json()["objects"][0]["actions"]["download"]["href"]
    assert httpx.get(href, timeout=60).content == data
    # An LFS client re-uploading it is told it is already there; a commit may reference it again.
    upload = alice_http.post(
        f"/{repo_id}.git/info/lfs/objects/batch",
        json={"operation": "upload", "objects": [{"oid": oid, "size": len(data)}]},
        headers={"Accept": "application/vnd.git-lfs+json"},
    )
    assert "actions" not in upload.json()["objects"][0]
    body = ndjson(header_line("Again"), lfs_file_line("again.bin", oid, len(data)))
    assert post_commit(alice_http, repo_id, body).status_code == 200

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "xet-cache"))
    assert Path(hf_hub_download(repo_id, "again.bin", cache_dir=tmp_path / "cache")).read_bytes() == data


def test_xet_upload_then_plain_http_download(
    xet, server, api, http: httpx.Client, alice_http: httpx.Client, repo_id: str, monkeypatch, hf_cache: Path
):
    from huggingface_hub import constants, hf_hub_download

    data = _mixed(5 * 1024 * 1024 + 333)
    size = len(data)
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=data, path_in_repo="x.bin", repo_id=repo_id)
    url = f"/{repo_id}/resolve/main/x.bin"

    whole = http.get(url)
    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["content-length"] == str(size)
    assert whole.headers["etag"].strip('"') == sha256_bytes(data)

    cases = {
        "bytes=0-0": (0, 1),
        "bytes=100-199": (100, 200),
        f"bytes={size // 2}-": (size // 2, size),
        "bytes=-1000": (size - 1000, size),
        f"bytes={size - 10}-{size + 1000}": (size - 10, size),
        "bytes=65530-1048580": (65530, 1048581),  # across chunk boundaries
    }
    for header, (start, end) in cases.items():
        part = http.get(url, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == data[start:end], header
        assert part.headers["content-range"] == f"bytes {start}-{end - 1}/{size}", header

    beyond = http.get(url, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416
    assert beyond.headers.get("content-range") == f"bytes */{size}"

    head = http.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(size)

    # huggingface_hub with Xet disabled: the plain GET path.
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    log = ServerLog(server)
    assert Path(hf_hub_download(repo_id, "x.bin", cache_dir=hf_cache)).read_bytes() == data
    assert log.lines(f"GET /{repo_id}/resolve/main/x.bin")
    assert not log.lines("/xet-cas/v1/reconstructions/")

    # git-lfs: the batch API hands out a download URL that serves the reconstructed bytes.
    batch = alice_http.post(
        f"/{repo_id}.git/info/lfs/objects/batch",
        json={"operation": "download", "objects": [{"oid": sha256_bytes(data), "size": size}]},
        headers={"Accept": "application/vnd.git-lfs+json"},
    )
    assert batch.status_code == 200, error_text(batch)
    action = batch.json()["objects"][0]["actions"]["download"]
    download = httpx.get(action["href"], headers=action.get("header", {}), timeout=60)
    assert download.status_code == 200
    assert download.content == data
    ranged = httpx.get(action["href"], headers={"Range": "bytes=10-19"}, timeout=60)
    assert ranged.status_code == 206 and ranged.content == data[10:20]


def test_reupload_through_lfs_of_xet_object_is_skipped(xet, server, api, alice_http, repo_id: str):
    """An object stored as Xet only counts as uploaded for the LFS batch API (no second copy)."""
    data = _random(2 * 1024 * 1024)
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=data, path_in_repo="a.bin", repo_id=repo_id)
    batch = alice_http.post(
        f"/{repo_id}.git/info/lfs/objects/batch",
        json={"operation": "upload", "objects": [{"oid": sha256_bytes(data), "size": len(data)}]},
        headers={"Accept": "application/vnd.git-lfs+json"},
    )
    assert batch.status_code == 200
    assert "actions" not in batch.json()["objects"][0]
    # A commit may reference it again (copy: no size), as huggingface_hub does for duplicates.
    body = ndjson(header_line("Copy"), lfs_file_line("copy.bin", sha256_bytes(data), None))
    assert post_commit(alice_http, repo_id, body).status_code == 200
    assert httpx.get(_resolve_url(server.url, repo_id, "copy.bin")).content == data


# ----------------------------------------------------------------------------------------------------
# The CAS API directly: tokens, refusals, nothing registered on failure
# ----------------------------------------------------------------------------------------------------
def _cas_token(client: httpx.Client, repo_id: str, scope: str) -> tuple[str, str]:
    response = client.get(f"/api/models/{repo_id}/xet-{scope}-token/main")
    assert response.status_code == 200, error_text(response)
    body = response.json()
    assert response.headers["x-xet-access-token"] == body["accessToken"]
    assert response.headers["x-xet-cas-url"] == body["casUrl"]
    assert int(response.headers["x-xet-token-expiration"]) == body["exp"]
    assert isinstance(body["exp"], int) and body["exp"] > time.time() + 60
    return body["casUrl"], body["accessToken"]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def cas_repo(make_repo, alice_http: httpx.Client, server):
    """A fresh repo, its CAS URL and a write token for it."""
    repo_id = make_repo()
    cas_url, token = _cas_token(alice_http, repo_id, "write")
    assert cas_url == f"{server.url}{CAS}"
    return repo_id, cas_url, token


def _assert_not_registered(cas_url: str, token: str, upload: Upload) -> None:
    with httpx.Client(timeout=60) as client:
        response = client.get(f"{cas_url}/v1/reconstructions/{upload.file_hash}", headers=_bearer(token))
        assert response.status_code == 404, error_text(response)


def test_cas_upload_by_hand_then_commit_and_download(cas_repo, alice_http, http, server):
    repo_id, cas_url, token = cas_repo
    upload = build_upload(_mixed(300 * 1024))
    with httpx.Client(timeout=60, headers=_bearer(token)) as cas:
        assert cas.head(f"{cas_url}/v1/xorbs/default/{upload.xorb_hash}").status_code == 404
        stored = cas.post(f"{cas_url}/v1/xorbs/default/{upload.xorb_hash}", content=upload.xorb)
        assert stored.status_code == 200 and stored.json() == {"was_inserted": True}
        again = cas.post(f"{cas_url}/v1/xorbs/default/{upload.xorb_hash}", content=upload.xorb)
        assert again.json() == {"was_inserted": False}
        assert cas.head(f"{cas_url}/v1/xorbs/default/{upload.xorb_hash}").status_code == 200
        registered = cas.post(f"{cas_url}/v1/shards", content=upload.shard)
        assert registered.status_code == 200 and registered.json() == {"result": 1}
        assert cas.post(f"{cas_url}/v1/shards", content=upload.shard).json() == {"result": 0}

        recon = cas.get(f"{cas_url}/v1/reconstructions/{upload.file_hash}", headers={"Range": "bytes=0-99"})
        assert recon.status_code == 200
        plan = recon.json()
        assert plan["offset_into_first_range"] == 0
        fetch = plan["fetch_info"][upload.xorb_hash][0]
        url_range = fetch["url_range"]
        # Fetch URLs authorize themselves (hf_xet sends no Authorization there) and only their own range.
        fetched = httpx.get(fetch["url"], headers={"Range": f"bytes={url_range['start']}-{url_range['end']}"})
        assert fetched.status_code == 206
        assert fetched.content == upload.xorb[url_range["start"] : url_range["end"] + 1]
        wider = httpx.get(fetch["url"], headers={"Range": f"bytes={url_range['start']}-{url_range['end'] + 1}"})
        assert wider.status_code == 403
        tampered = httpx.get(fetch["url"].replace("sig=", "sig=0"))
        assert tampered.status_code == 403
        past_end = cas.get(f"{cas_url}/v1/reconstructions/{upload.file_hash}", headers={"Range": "bytes=999999-"})
        assert past_end.status_code == 416
        assert cas.get(f"{cas_url}/v2/reconstructions/{upload.file_hash}").status_code == 404
        assert cas.post(f"{cas_url}/v2/shards", content=upload.shard).status_code == 404
        assert cas.post(f"{cas_url}/v1/xorb-grants/default/{upload.xorb_hash}", json={}).status_code == 404

    body = ndjson(
        header_line("Add a file uploaded by hand"), lfs_file_line("hand.bin", upload.sha256, len(upload.data))
    )
    response = post_commit(alice_http, repo_id, body)
    assert response.status_code == 200, error_text(response)
    assert http.get(f"/{repo_id}/resolve/main/hand.bin").content == upload.data


def test_corrupt_xorb_is_refused(cas_repo, alice_http):
    _, cas_url, token = cas_repo
    upload = build_upload(_random(100 * 1024))
    corrupt = bytearray(upload.xorb)
    corrupt[len(corrupt) // 2] ^= 0xFF  # random data is stored raw: this changes a chunk's content
    before = _storage(alice_http)
    with httpx.Client(timeout=60, headers=_bearer(token)) as cas:
        response = cas.post(f"{cas_url}/v1/xorbs/default/{upload.xorb_hash}", content=bytes(corrupt))
        assert response.status_code == 400
        assert "hash" in error_text(response).lower()
        # A valid body under another xorb's name, and a body that is not a xorb at all.
        other = build_upload(_random(50 * 1024))
        assert cas.post(f"{cas_url}/v1/xorbs/default/{other.xorb_hash}", content=upload.xorb).status_code == 400
        garbage = cas.post(f"{cas_url}/v1/xorbs/default/{upload.xorb_hash}", content=b"\x07" * 100)
        assert garbage.status_code == 400
        assert cas.post(f"{cas_url}/v1/xorbs/default/not-a-hash", content=upload.xorb).status_code == 400
        assert cas.head(f"{cas_url}/v1/xorbs/default/{upload.xorb_hash}").status_code == 404
        assert cas.head(f"{cas_url}/v1/xorbs/default/{other.xorb_hash}").status_code == 404
        # The shard of that file is then refused too: its xorb was never stored.
        assert cas.post(f"{cas_url}/v1/shards", content=upload.shard).status_code == 400
    assert _storage(alice_http)["xorbs"] == before["xorbs"]
    _assert_not_registered(cas_url, token, upload)


def test_truncated_shard_is_refused(cas_repo, alice_http):
    repo_id, cas_url, token = cas_repo
    upload = build_upload(_random(120 * 1024))
    with httpx.Client(timeout=60, headers=_bearer(token)) as cas:
        assert cas.post(f"{cas_url}/v1/xorbs/default/{upload.xorb_hash}", content=upload.xorb).status_code == 200
        for cut in (10, 48 + 20, len(upload.shard) - 1):
            response = cas.post(f"{cas_url}/v1/shards", content=upload.shard[:cut])
            assert response.status_code == 400, cut
            assert "truncated" in error_text(response).lower(), (cut, error_text(response))
    _assert_not_registered(cas_url, token, upload)
    body = ndjson(header_line("Not uploaded"), lfs_file_line("x.bin", upload.sha256, len(upload.data)))
    assert post_commit(alice_http, repo_id, body).status_code == 400


def test_shard_referencing_unknown_xorb_is_refused(cas_repo, alice_http):
    repo_id, cas_url, token = cas_repo
    upload = build_upload(_random(90 * 1024))
    before = _storage(alice_http)
    with httpx.Client(timeout=60, headers=_bearer(token)) as cas:
        response = cas.post(f"{cas_url}/v1/shards", content=upload.shard)
        assert response.status_code == 400
        assert upload.xorb_hash in error_text(response)
    _assert_not_registered(cas_url, token, upload)
    after = _storage(alice_http)
    assert after["xetObjects"] == before["xetObjects"]
    body = ndjson(header_line("Unknown object"), lfs_file_line("x.bin", upload.sha256, len(upload.data)))
    assert post_commit(alice_http, repo_id, body).status_code == 400


def test_shard_with_wrong_verification_or_file_hash_is_refused(cas_repo):
    from modelyard.domain.xet.hashes import MerkleHash
    from modelyard.domain.xet.shard import parse_shard, serialize_shard

    _, cas_url, token = cas_repo
    upload = build_upload(_random(90 * 1024))
    parsed = parse_shard(upload.shard)
    file = parsed.files[0]
    bad_verification = type(file)(file.hash, file.terms, (MerkleHash(b"\x01" * 32),), file.sha256)
    bad_file_hash = type(file)(MerkleHash(b"\x02" * 32), file.terms, file.verification, file.sha256)
    with httpx.Client(timeout=60, headers=_bearer(token)) as cas:
        assert cas.post(f"{cas_url}/v1/xorbs/default/{upload.xorb_hash}", content=upload.xorb).status_code == 200
        for bad in (bad_verification, bad_file_hash):
            response = cas.post(f"{cas_url}/v1/shards", content=serialize_shard([bad], parsed.xorbs))
            assert response.status_code == 400, error_text(response)
    _assert_not_registered(cas_url, token, upload)


def _signing_key(server) -> bytes:
    """The server's URL-signing key (generated in its database), to forge an expired token."""
    from sqlalchemy import text

    from modelyard.db.database import make_engine

    engine = make_engine(server.db_url)
    try:
        with engine.connect() as connection:
            value = connection.execute(text("SELECT value FROM server_settings WHERE key = 'url_signing_key'"))
            return value.scalar_one().encode()
    finally:
        engine.dispose()


def test_expired_forged_and_missing_tokens_are_refused(cas_repo, server):
    from modelyard.services.signing import sign

    _, cas_url, token = cas_repo
    upload = build_upload(_random(64 * 1024))
    _, pk, scope, issuer, _, _ = token.split(".")
    expired_at = int(time.time()) - 10
    signature = sign(_signing_key(server), "xet-cas", pk, scope, issuer, expired_at)
    expired = f"xet2.{pk}.{scope}.{issuer}.{expired_at}.{signature}"
    far_future = int(time.time()) + 10**6
    forged = f"xet2.{pk}.{scope}.{issuer}.{far_future}.{'0' * 64}"
    with httpx.Client(timeout=60) as cas:
        url = f"{cas_url}/v1/xorbs/default/{upload.xorb_hash}"
        for bad, what in ((expired, "expired"), (forged, "invalid"), ("garbage", "token")):
            response = cas.post(url, content=upload.xorb, headers=_bearer(bad))
            assert response.status_code == 401, bad
            assert what in error_text(response).lower()
        assert cas.post(url, content=upload.xorb).status_code == 401
        assert cas.head(url, headers=_bearer(token)).status_code == 404  # nothing stored


def test_tokens_are_scoped_to_one_repo_and_to_read_or_write(
    cas_repo, make_repo, alice_http, bob, server, read_api, alice_read_token
):
    repo_id, cas_url, write_token = cas_repo
    other_repo = make_repo()
    _, other_read_token = _cas_token(alice_http, other_repo, "read")
    upload = build_upload(_mixed(200 * 1024))

    # A read token cannot upload.
    _, read_token = _cas_token(alice_http, repo_id, "read")
    with httpx.Client(timeout=60) as cas:
        refused = cas.post(
            f"{cas_url}/v1/xorbs/default/{upload.xorb_hash}", content=upload.xorb, headers=_bearer(read_token)
        )
        assert refused.status_code == 403
        # The write token of repo_id registers the file for repo_id only.
        assert cas.post(f"{cas_url}/v1/xorbs/default/{upload.xorb_hash}", content=upload.xorb,
                        headers=_bearer(write_token)).status_code == 200  # fmt: skip
        assert cas.post(f"{cas_url}/v1/shards", content=upload.shard, headers=_bearer(write_token)).status_code == 200
        mine = cas.get(f"{cas_url}/v1/reconstructions/{upload.file_hash}", headers=_bearer(read_token))
        assert mine.status_code == 200
        theirs = cas.get(f"{cas_url}/v1/reconstructions/{upload.file_hash}", headers=_bearer(other_read_token))
        assert theirs.status_code == 404

    # Committing that object to the other repository is refused: it was not uploaded there.
    body = ndjson(header_line("Borrow"), lfs_file_line("borrowed.bin", upload.sha256, len(upload.data)))
    response = post_commit(alice_http, other_repo, body)
    assert response.status_code == 400
    assert "never uploaded" in error_text(response)
    assert post_commit(alice_http, repo_id, body).status_code == 200

    # Tokens need the matching repository access: bob may upload to alice's public repo (contributing: only a
    # commit puts the bytes on a branch, and a branch needs write access), a read-only hub token cannot get a
    # write token, and private repos hide their tokens.
    with httpx.Client(base_url=server.url, timeout=60, headers=_bearer(bob.token)) as bob_http:
        assert bob_http.get(f"/api/models/{repo_id}/xet-write-token/main").status_code == 200
        assert bob_http.get(f"/api/models/{repo_id}/xet-read-token/main").status_code == 200
    with httpx.Client(base_url=server.url, timeout=60, headers=_bearer(alice_read_token)) as read_http:
        assert read_http.get(f"/api/models/{repo_id}/xet-write-token/main").status_code == 403
    private = make_repo(private=True)
    with httpx.Client(base_url=server.url, timeout=60, headers=_bearer(bob.token)) as bob_http:
        assert bob_http.get(f"/api/models/{private}/xet-read-token/main").status_code == 404


# ----------------------------------------------------------------------------------------------------
# Dedup and accounting
# ----------------------------------------------------------------------------------------------------
def test_second_upload_of_an_edited_file_dedups(xet, server, api, alice_http, make_repo, monkeypatch, tmp_path):
    """The edited copy goes to another repo with a cold hf_xet cache: global dedup finds the shared chunks."""
    size = 8 * 1024 * 1024
    original = _random(size)
    edited = original[: size // 2] + _random(size // 100) + original[size // 2 + size // 100 :]
    first, second = make_repo(), make_repo()
    api.upload_file(path_or_fileobj=original, path_in_repo="a.bin", repo_id=first)
    before = _storage(alice_http)
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "another-cold-cache"))
    log = ServerLog(server)
    api.upload_file(path_or_fileobj=edited, path_in_repo="b.bin", repo_id=second)
    assert any('" 200' in line for line in log.lines("GET /xet-cas/v1/chunks/default/")), "no global dedup hit"
    after = _storage(alice_http)
    added = after["storedBytes"] - before["storedBytes"]
    assert added < 0.2 * size, added  # ~1% changed (plus the chunks around it)
    assert after["logicalBytes"] - before["logicalBytes"] == size
    assert httpx.get(_resolve_url(server.url, second, "b.bin"), timeout=60).content == edited

    repo_stats = alice_http.get(f"/api/models/{second}/storage").json()
    assert repo_stats["logicalBytes"] == size and repo_stats["xetObjects"] == 1
    assert repo_stats["storedBytes"] >= size  # the repo's file references all its bytes
    assert repo_stats["dedupRatio"] == pytest.approx(size / repo_stats["storedBytes"], rel=1e-3)


def test_storage_endpoints_and_cli(server, alice_http, http, make_repo, api):
    repo_id = make_repo({"blob.bin": _random(300 * 1024)})  # Xet off: an LFS upload
    stats = alice_http.get(f"/api/models/{repo_id}/storage")
    assert stats.status_code == 200
    body = stats.json()
    assert body["logicalBytes"] == 300 * 1024
    assert body["lfsStoredBytes"] == 300 * 1024
    assert body["storedBytes"] >= body["lfsStoredBytes"]
    assert set(body) >= {"logicalBytes", "storedBytes", "dedupRatio", "xetStoredBytes", "objects"}
    assert http.get("/api/storage").status_code == 401
    private = make_repo(private=True)
    hidden = http.get(f"/api/models/{private}/storage")
    assert hidden.status_code == 401  # anonymous: answered like a missing repo, 401 as the Hub does
    assert hidden.headers["X-Error-Code"] == "RepoNotFound"

    total = _storage(alice_http)
    assert total["logicalBytes"] >= body["logicalBytes"]
    assert total["dedupRatio"] == pytest.approx(total["logicalBytes"] / total["storedBytes"], rel=1e-3)

    text_report = server.admin("stats")
    assert text_report.startswith("total: logical")
    assert f"model {repo_id}:" in text_report
    import json

    report = json.loads(server.admin("stats", "--json"))
    assert report["total"]["logicalBytes"] >= body["logicalBytes"]
    assert any(r["id"] == repo_id for r in report["repositories"])


# ----------------------------------------------------------------------------------------------------
# The server log
# ----------------------------------------------------------------------------------------------------
def test_xet_upload_and_download_leave_a_clean_log(xet, server, api, repo_id: str, hf_cache: Path):
    """hf_xet's fallback probes (streaming shards, upload grants, V2 reconstructions) are expected: neither
    errors, nor warnings, nor access-log lines."""
    from huggingface_hub import hf_hub_download

    data = _mixed(3 * 1024 * 1024 + 1)
    api.create_repo(repo_id)
    log = ServerLog(server)
    api.upload_file(path_or_fileobj=data, path_in_repo="weights.bin", repo_id=repo_id)
    assert Path(hf_hub_download(repo_id, "weights.bin", cache_dir=hf_cache)).read_bytes() == data
    assert log.lines("POST /xet-cas/v1/shards") and log.lines("GET /xet-cas/v1/reconstructions/")
    for needle in ("Traceback", "Unhandled", "ERROR", "WARNING", "/v2/shards", "/xorb-grants/", "/v2/reconstr"):
        assert not log.lines(needle), log.lines(needle)[:5]


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def _stalled_reader(port: int, path: str) -> socket.socket:
    """A client that starts a plain GET, takes the first bytes and then reads nothing more."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # a small TCP window, like a slow reader's
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    return sock


@pytest.mark.slow  # a server of its own: two admin commands and a start, seconds each
@pytest.mark.parametrize("copies", ["rebuilt from xorbs", "plain copy"])
def test_stalled_plain_downloads_hold_little_server_memory(copies: str, xet, tmp_path: Path):
    """A reader of a file stored only as Xet that stops reading costs the server about one piece of the file, not
    a window of it (it was about 30 MiB each): the server waits for the socket before rebuilding (or reading) more.
    Both ways of sending it: rebuilt from the xorbs (no plain copies) and read from its plain copy."""
    from huggingface_hub import HfApi

    from conftest import launch_server

    readers = 8
    env = {"MODELYARD_XET_PLAIN_COPIES_BYTES": "0"} if copies == "rebuilt from xorbs" else {}
    # A fresh process: no memory freed by earlier tests to reuse.
    with launch_server(tmp_path / "fresh", extra_env=env) as fresh:
        fresh.create_user("carol")
        api = HfApi(endpoint=fresh.url, token=fresh.create_token("carol"))
        api.create_repo("carol/slow")
        source = tmp_path / "big.bin"
        source.write_bytes(os.urandom(24 * 1024 * 1024))
        api.upload_file(path_or_fileobj=source, path_in_repo="big.bin", repo_id="carol/slow")
        path = "/carol/slow/resolve/main/big.bin"
        warm_up = httpx.get(fresh.url + path, headers={"Range": "bytes=0-99"})
        assert warm_up.status_code == 206 and "x-xet-hash" in warm_up.headers  # stored as Xet only
        assert ("last-modified" in warm_up.headers) == (copies == "plain copy")

        before = _rss_mib(fresh.proc.pid)
        sockets = [_stalled_reader(fresh.port, path) for _ in range(readers)]
        try:
            time.sleep(3)  # the socket buffers fill; the server then holds what it could not send yet
            growth = _rss_mib(fresh.proc.pid) - before
        finally:
            for sock in sockets:
                sock.close()
    assert growth < readers * 2 + 16, f"server RSS grew by {growth:.1f} MiB for {readers} stalled readers"
