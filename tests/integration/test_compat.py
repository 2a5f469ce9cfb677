"""Wire-level compatibility details from §0 of docs hub-api.md, checked with plain httpx the way the clients
send and read them: dates, pagination, encoded revisions, resolve headers, Range, validate-yaml, paths-info,
URLs in responses, whoami-v2, the LFS batch API."""

from __future__ import annotations

import math
import os
import time
from urllib.parse import urlsplit

import httpx
import pytest
from huggingface_hub import HfApi

from helpers import (
    HEX40,
    HEX64,
    ISO_Z,
    error_text,
    header_line,
    lfs_batch,
    lfs_file_line,
    ndjson,
    post_commit,
    sha256_bytes,
    strip_etag,
    user_files,
)

IDENTITY = {"Accept-Encoding": "identity"}
CHUNK = 16 * 1024 * 1024  # MODELYARD_LFS_MULTIPART_CHUNK_SIZE set by conftest


def head_like_client(client: httpx.Client, url: str) -> httpx.Response:
    """HEAD the way huggingface_hub does: follow same-origin redirects by hand, stop on anything else."""
    origin = urlsplit(str(client.base_url))[:2]
    response = client.head(url, headers=IDENTITY, follow_redirects=False)
    for _ in range(20):
        if not (300 <= response.status_code < 400 and "Location" in response.headers):
            break
        target = response.url.join(response.headers["Location"])
        if urlsplit(str(target))[:2] != origin:
            break
        response = client.head(target, headers=IDENTITY, follow_redirects=False)
    return response


def pages(client: httpx.Client, first_url: str, params: dict) -> list[httpx.Response]:
    """Follow `Link: <…>; rel="next"` the way the client does (next URL as is, no params of its own)."""
    out = [client.get(first_url, params=params)]
    while "next" in out[-1].links:
        assert out[-1].status_code == 200, error_text(out[-1])
        next_url = out[-1].links["next"]["url"]
        assert next_url.startswith(str(client.base_url).rstrip("/") + "/"), f"Link must be absolute: {next_url}"
        out.append(client.get(next_url))
        assert len(out) < 100, "pagination does not end"
    assert out[-1].status_code == 200, error_text(out[-1])
    return out


# ----------------------------------------------------------------------------------------------------
# Dates
# ----------------------------------------------------------------------------------------------------
def test_dates_end_in_z(http: httpx.Client, populated_repo):
    rid = populated_repo.repo_id
    info = http.get(f"/api/models/{rid}").json()
    assert ISO_Z.match(info["lastModified"]), info["lastModified"]
    assert ISO_Z.match(info["createdAt"]), info["createdAt"]

    for commit in http.get(f"/api/models/{rid}/commits/main").json():
        assert ISO_Z.match(commit["date"]), commit

    tree = http.get(f"/api/models/{rid}/tree/main", params={"recursive": "true", "expand": "true"}).json()
    assert tree
    for entry in tree:
        assert ISO_Z.match(entry["lastCommit"]["date"]), entry

    infos = http.post(f"/api/models/{rid}/paths-info/main", data={"paths": ["config.json"], "expand": "true"})
    assert ISO_Z.match(infos.json()[0]["lastCommit"]["date"])

    listing = http.get("/api/models", params={"author": rid.split("/")[0], "full": "true"}).json()
    assert any(item["id"] == rid for item in listing)
    for item in listing:
        for key in ("lastModified", "createdAt"):
            assert ISO_Z.match(item[key]), (key, item[key])


# ----------------------------------------------------------------------------------------------------
# Pagination (page size requested with `limit`, which the server must honour for these endpoints)
# ----------------------------------------------------------------------------------------------------
def test_commit_listing_pagination_uses_absolute_link(http: httpx.Client, api: HfApi, make_repo):
    rid = make_repo({"f.txt": b"0"})
    for i in range(1, 6):
        api.upload_file(repo_id=rid, path_or_fileobj=str(i).encode(), path_in_repo="f.txt")
    expected = [c.commit_id for c in api.list_repo_commits(rid)]
    assert len(expected) >= 6

    responses = pages(http, f"/api/models/{rid}/commits/main", {"limit": 2})
    got = [c["id"] for r in responses for c in r.json()]

    assert len(responses) >= 3, "with limit=2 the 6+ commits must span several pages"
    assert all(len(r.json()) <= 2 for r in responses)
    assert got == expected


def test_tree_listing_pagination_keeps_filters(http: httpx.Client, make_repo, api: HfApi):
    files = {f"top-{i}.txt": b"t" for i in range(5)}
    files.update({f"dir/nested-{i}.txt": b"n" for i in range(5)})
    rid = make_repo(files)
    expected = {e.path for e in api.list_repo_tree(rid, recursive=True)}

    responses = pages(http, f"/api/models/{rid}/tree/main", {"recursive": "true", "expand": "true", "limit": 3})
    entries = [e for r in responses for e in r.json()]

    assert len(responses) >= 3
    assert [e["path"] for e in entries].count("dir/nested-4.txt") == 1
    assert {e["path"] for e in entries} == expected  # nested entries prove `recursive` survived the Link
    assert all("lastCommit" in e for e in entries)  # and so did `expand`
    assert user_files({e["path"] for e in entries if e["type"] == "file"}) == set(files)


# ----------------------------------------------------------------------------------------------------
# Revisions and paths with an encoded slash
# ----------------------------------------------------------------------------------------------------
def test_encoded_slash_in_revision_and_tree_path(http: httpx.Client, populated_repo):
    rid = populated_repo.repo_id

    info = http.get(f"/api/models/{rid}/revision/feat%2Fx")
    assert info.status_code == 200, error_text(info)
    assert info.json()["sha"] == populated_repo.feat

    tree = http.get(f"/api/models/{rid}/tree/feat%2Fx", params={"recursive": "true", "expand": "false"})
    assert tree.status_code == 200, error_text(tree)
    assert "feat/only.txt" in {e["path"] for e in tree.json()}

    sub = http.get(f"/api/models/{rid}/tree/feat%2Fx/feat", params={"recursive": "false", "expand": "false"})
    assert [e["path"] for e in sub.json()] == ["feat/only.txt"]

    nested = http.get(f"/api/models/{rid}/tree/main/notes%2Fsub", params={"recursive": "false", "expand": "false"})
    assert nested.status_code == 200, error_text(nested)
    assert [e["path"] for e in nested.json()] == ["notes/sub/b.txt"]

    head = head_like_client(http, f"/{rid}/resolve/feat%2Fx/feat/only.txt")
    assert head.status_code == 200
    assert head.headers["X-Repo-Commit"] == populated_repo.feat

    commits = http.get(f"/api/models/{rid}/commits/feat%2Fx")
    assert commits.json()[0]["id"] == populated_repo.feat

    infos = http.post(f"/api/models/{rid}/paths-info/feat%2Fx", data={"paths": ["feat/only.txt"], "expand": "false"})
    assert [e["path"] for e in infos.json()] == ["feat/only.txt"]


# ----------------------------------------------------------------------------------------------------
# Resolve: HEAD headers, errors, Range
# ----------------------------------------------------------------------------------------------------
def test_head_missing_file_is_entry_not_found_with_commit(http: httpx.Client, populated_repo):
    response = http.head(f"/{populated_repo.repo_id}/resolve/main/does-not-exist.txt", headers=IDENTITY)
    assert response.status_code == 404
    assert response.headers.get("X-Error-Code") == "EntryNotFound"
    assert response.headers.get("X-Repo-Commit") == populated_repo.c2


def test_head_missing_repo_is_repo_not_found(http: httpx.Client, alice):
    # Anonymous callers get 401 (the Hub's answer, so the client suggests logging in); a signed-in one 404.
    response = http.head(f"/{alice.name}/no-such-repo-at-all/resolve/main/config.json", headers=IDENTITY)
    assert response.status_code == 401
    assert response.headers.get("X-Error-Code") == "RepoNotFound"
    info = http.get(f"/api/models/{alice.name}/no-such-repo-at-all")
    assert info.status_code == 401
    assert info.headers.get("X-Error-Code") == "RepoNotFound"
    signed_in = http.get(
        f"/api/models/{alice.name}/no-such-repo-at-all", headers={"Authorization": f"Bearer {alice.token}"}
    )
    assert signed_in.status_code == 404
    assert signed_in.headers.get("X-Error-Code") == "RepoNotFound"


def test_head_resolve_regular_file(http: httpx.Client, populated_repo):
    data = populated_repo.files_main["config.json"]
    response = head_like_client(http, f"/{populated_repo.repo_id}/resolve/main/config.json")

    assert response.status_code == 200
    assert response.headers["X-Repo-Commit"] == populated_repo.c2
    assert strip_etag(response.headers.get("ETag")), "ETag is the client's cache key"
    assert int(response.headers["Content-Length"]) == len(data)
    assert "Location" not in response.headers

    at_tag = head_like_client(http, f"/{populated_repo.repo_id}/resolve/v1/config.json")
    assert at_tag.headers["X-Repo-Commit"] == populated_repo.c1
    assert int(at_tag.headers["Content-Length"]) == len(populated_repo.files_c1["config.json"])
    assert strip_etag(at_tag.headers["ETag"]) != strip_etag(response.headers["ETag"])  # different content


def test_head_resolve_lfs_file(http: httpx.Client, populated_repo):
    data = populated_repo.files_main["weights/small.bin"]
    response = head_like_client(http, f"/{populated_repo.repo_id}/resolve/main/weights/small.bin")

    # The Hub redirects LFS files to its CDN; this server serves the blob itself, so one answer here: 200.
    assert response.status_code == 200
    assert response.headers["X-Repo-Commit"] == populated_repo.c2
    assert strip_etag(response.headers.get("X-Linked-Etag")) == sha256_bytes(data)
    assert int(response.headers["X-Linked-Size"]) == len(data)
    assert int(response.headers["Content-Length"]) == len(data)
    assert "Location" not in response.headers


@pytest.mark.parametrize("path", ["notes/a.txt", "weights/small.bin"])
def test_range_requests(http: httpx.Client, populated_repo, path: str):
    data = populated_repo.files_main[path]
    url = f"/{populated_repo.repo_id}/resolve/main/{path}"

    part = http.get(url, headers={"Range": "bytes=10-19", **IDENTITY}, follow_redirects=True)
    assert part.status_code == 206, error_text(part)
    assert part.content == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"

    tail = http.get(url, headers={"Range": f"bytes={len(data) - 7}-", **IDENTITY}, follow_redirects=True)
    assert tail.status_code == 206
    assert tail.content == data[-7:]

    beyond = http.get(url, headers={"Range": f"bytes={len(data)}-", **IDENTITY}, follow_redirects=True)
    assert beyond.status_code == 416

    whole = http.get(url, follow_redirects=True)
    assert whole.status_code == 200
    assert whole.content == data


# ----------------------------------------------------------------------------------------------------
# validate-yaml, paths-info, URLs we emit, whoami-v2, refs
# ----------------------------------------------------------------------------------------------------
def test_validate_yaml(alice_http: httpx.Client):
    valid = alice_http.post(
        "/api/validate-yaml",
        json={"content": "---\nlicense: mit\ntags:\n- text\n---\n# A card\n", "repoType": "model"},
    )
    assert valid.status_code == 200, error_text(valid)
    assert valid.headers["Content-Type"].startswith("application/json")
    assert valid.json()["errors"] == []
    assert isinstance(valid.json().get("warnings", []), list)

    no_front_matter = alice_http.post("/api/validate-yaml", json={"content": "# Only a title\n", "repoType": "model"})
    assert no_front_matter.status_code == 200
    assert no_front_matter.json()["errors"] == []

    dataset = alice_http.post(
        "/api/validate-yaml",
        json={
            "content": "---\nconfigs:\n- config_name: default\n  data_files: data/*.csv\n---\n",
            "repoType": "dataset",
        },
    )
    assert dataset.status_code == 200, error_text(dataset)

    invalid = alice_http.post(
        "/api/validate-yaml",
        json={"content": "---\nlicense: [unclosed\n---\n# A card\n", "repoType": "model"},
    )
    assert invalid.status_code == 400
    assert invalid.headers["Content-Type"].startswith("application/json")
    errors = invalid.json()["errors"]
    assert errors and all(isinstance(e["message"], str) and e["message"] for e in errors)


def test_paths_info_takes_a_form_body(http: httpx.Client, populated_repo):
    response = http.post(
        f"/api/models/{populated_repo.repo_id}/paths-info/main",
        data={"paths": ["config.json", "notes", "weights/small.bin", "missing.txt"], "expand": "false"},
    )
    assert response.status_code == 200, error_text(response)
    entries = {e["path"]: e for e in response.json()}

    assert set(entries) == {"config.json", "notes", "weights/small.bin"}
    assert entries["config.json"]["type"] == "file"
    assert entries["config.json"]["size"] == len(populated_repo.files_main["config.json"])
    assert HEX40.match(entries["config.json"]["oid"])
    assert entries["notes"]["type"] == "directory"
    assert HEX40.match(entries["notes"]["oid"])
    small = populated_repo.files_main["weights/small.bin"]
    assert entries["weights/small.bin"]["lfs"]["oid"] == sha256_bytes(small)
    assert entries["weights/small.bin"]["size"] == len(small)
    assert "xetHash" not in entries["config.json"]  # regular files are never Xet

    # LFS files get a Xet copy in the background (services/xet_convert); once made, paths-info names it.
    deadline = time.monotonic() + 60
    while "xetHash" not in entries["weights/small.bin"] and time.monotonic() < deadline:
        time.sleep(0.25)
        response = http.post(
            f"/api/models/{populated_repo.repo_id}/paths-info/main", data={"paths": ["weights/small.bin"]}
        )
        entries = {e["path"]: e for e in response.json()}
    assert HEX64.match(entries["weights/small.bin"]["xetHash"])


@pytest.mark.parametrize(("repo_type", "prefix"), [("model", ""), ("dataset", "datasets/")])
def test_create_repo_url_uses_endpoint_host(
    alice_http: httpx.Client, server, alice, unique_name, repo_type: str, prefix: str
):
    name = unique_name()
    response = alice_http.post(
        "/api/repos/create",
        json={"name": name, "organization": None, "type": repo_type, "visibility": "public"},
    )
    assert response.status_code == 200, error_text(response)
    assert response.json()["url"] == f"{server.url}/{prefix}{alice.name}/{name}"

    again = alice_http.post("/api/repos/create", json={"name": name, "organization": None, "type": repo_type})
    assert again.status_code == 409


def test_commit_response_urls(alice_http: httpx.Client, server, make_repo):
    rid = make_repo()
    response = post_commit(
        alice_http,
        rid,
        ndjson(
            header_line("Raw commit"),
            {"key": "file", "value": {"path": "raw.txt", "content": "cmF3Cg==", "encoding": "base64"}},
        ),
    )
    assert response.status_code == 200, error_text(response)
    body = response.json()
    assert HEX40.match(body["commitOid"])
    assert body["commitUrl"] == f"{server.url}/{rid}/commit/{body['commitOid']}"


def test_whoami_v2(alice_http: httpx.Client, http: httpx.Client, server, alice, alice_read_token: str):
    response = alice_http.get("/api/whoami-v2")
    assert response.status_code == 200
    me = response.json()
    assert me["name"] == alice.name
    assert me["type"] == "user"
    assert isinstance(me["orgs"], list)
    assert me["auth"]["accessToken"]["role"] == "write"

    read = http.get("/api/whoami-v2", headers={"Authorization": f"Bearer {alice_read_token}"})
    assert read.json()["auth"]["accessToken"]["role"] == "read"
    assert http.get("/api/whoami-v2").status_code == 401
    bad = http.get("/api/whoami-v2", headers={"Authorization": "Bearer hf_definitely_not_valid"})
    assert bad.status_code == 401


def test_refs_shape(http: httpx.Client, populated_repo):
    refs = http.get(f"/api/models/{populated_repo.repo_id}/refs").json()
    assert isinstance(refs["branches"], list)
    assert refs["converts"] == []
    assert {t["name"] for t in refs["tags"]} == {"v1"}
    main = next(b for b in refs["branches"] if b["name"] == "main")
    assert main == {"name": "main", "ref": "refs/heads/main", "targetCommit": populated_repo.c2}
    with_prs = http.get(f"/api/models/{populated_repo.repo_id}/refs", params={"include_prs": 1}).json()
    assert isinstance(with_prs["pullRequests"], list)


def test_model_info_required_fields(http: httpx.Client, populated_repo):
    info = http.get(f"/api/models/{populated_repo.repo_id}").json()
    assert info["id"] == populated_repo.repo_id
    assert info["sha"] == populated_repo.c2
    assert info["private"] is False
    assert user_files(s["rfilename"] for s in info["siblings"]) == set(populated_repo.files_main)
    pinned = http.get(f"/api/models/{populated_repo.repo_id}/revision/{populated_repo.c1}").json()
    assert pinned["sha"] == populated_repo.c1
    short = http.get(f"/api/models/{populated_repo.repo_id}/revision/{populated_repo.c1[:10]}")
    assert short.status_code == 200
    assert short.json()["sha"] == populated_repo.c1


# ----------------------------------------------------------------------------------------------------
# The git-LFS batch API as huggingface_hub uses it with Xet off
# ----------------------------------------------------------------------------------------------------
def test_lfs_batch_offers_basic_or_multipart_by_size(alice_http: httpx.Client, make_repo):
    rid = make_repo()
    small_oid = sha256_bytes(os.urandom(32))
    big_oid = sha256_bytes(os.urandom(32))
    big_size = CHUNK + 4 * 1024 * 1024  # just over one chunk -> 2 parts

    response = lfs_batch(alice_http, rid, [(small_oid, 1000), (big_oid, big_size)])
    assert response.status_code == 200, error_text(response)
    assert response.headers["Content-Type"].startswith("application/vnd.git-lfs+json")
    objects = {o["oid"]: o for o in response.json()["objects"]}

    small = objects[small_oid]
    assert small["size"] == 1000
    assert small["actions"]["upload"]["href"].startswith("http")
    assert "chunk_size" not in (small["actions"]["upload"].get("header") or {})

    big = objects[big_oid]
    assert big["size"] == big_size
    header = big["actions"]["upload"]["header"]
    assert int(header["chunk_size"]) == CHUNK
    part_urls = [v for k, v in header.items() if k.isdigit()]
    assert len(part_urls) == math.ceil(big_size / CHUNK)


def test_lfs_basic_upload_then_commit(alice_http: httpx.Client, http: httpx.Client, make_repo, hf_cache):
    rid = make_repo()
    data = os.urandom(300_000)
    oid = sha256_bytes(data)

    actions = lfs_batch(alice_http, rid, [(oid, len(data))]).json()["objects"][0]["actions"]
    put = http.put(actions["upload"]["href"], content=data)  # no Authorization, like the client
    assert put.status_code == 200, error_text(put)
    verify = alice_http.post(actions["verify"]["href"], json={"oid": oid, "size": len(data)})  # always offered
    assert verify.status_code == 200, error_text(verify)

    again = lfs_batch(alice_http, rid, [(oid, len(data))]).json()["objects"][0]
    assert "actions" not in again, "a stored object needs no upload"

    commit = post_commit(
        alice_http, rid, ndjson(header_line("LFS by hand"), lfs_file_line("raw/blob.bin", oid, len(data)))
    )
    assert commit.status_code == 200, error_text(commit)
    head = head_like_client(http, f"/{rid}/resolve/main/raw/blob.bin")
    assert head.headers["X-Repo-Commit"] == commit.json()["commitOid"]
    assert strip_etag(head.headers["X-Linked-Etag"]) == oid
    assert http.get(f"/{rid}/resolve/main/raw/blob.bin", follow_redirects=True).content == data

    # An lfsFile line without `size` (what the client sends for copies) resolves the size from the oid.
    copy = post_commit(alice_http, rid, ndjson(header_line("copy"), lfs_file_line("raw/copy.bin", oid, None)))
    assert copy.status_code == 200, error_text(copy)
    tree = {e["path"]: e for e in http.get(f"/api/models/{rid}/tree/main/raw").json()}
    assert tree["raw/copy.bin"]["size"] == len(data)
    assert tree["raw/copy.bin"]["lfs"]["oid"] == oid
