"""Hub conformance: what a stock client sees for the answers that are easy to get subtly wrong."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationCopy, CommitOperationDelete, HfApi
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from conftest import make_name


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


def _git(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"})
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_commit_authors_are_hub_users(api: HfApi, alice, server, make_repo, unique_name, tmp_path: Path) -> None:
    rid = make_repo({"a.txt": b"a"})
    (api_commit, *_) = api.list_repo_commits(rid)
    assert api_commit.authors == [alice.name]
    # The API commit's git author is the user name, with the account's address or the no-reply one.
    _git(tmp_path, "clone", "-q", f"{server.url}/{rid}", "alice-clone")
    git_author = _git(tmp_path / "alice-clone", "log", "-1", "--format=%an <%ae>")
    assert git_author == f"{alice.name} <{alice.name}@users.noreply.modelyard>"

    # A push is the user whose account email (any case) or no-reply address its git author email is.
    carol = unique_name("carol")
    server.admin("create-user", carol, "--fullname", "Carol Full Name", "--email", f"{carol}@example.org")
    token = server.create_token(carol)
    carol_rid = HfApi(endpoint=server.url, token=token).create_repo(f"{carol}/pushed").repo_id
    _git(tmp_path, "clone", "-q", f"{server.url}/{carol_rid}".replace("://", f"://{carol}:{token}@"), "clone")
    work = tmp_path / "clone"
    pushes = [("Carol On Her Laptop", f"{carol.upper()}@EXAMPLE.ORG"), ("Someone Else", "else@example.net")]
    for number, (name, email) in enumerate(pushes):
        (work / f"pushed-{number}.txt").write_text(name)
        _git(work, "add", "-A")
        _git(work, "-c", f"user.name={name}", "-c", f"user.email={email}", "commit", "-q", "-m", f"push {number}")
    _git(work, "push", "-q", "origin", "main")
    authors = [commit.authors for commit in api.list_repo_commits(carol_rid)]
    # Unknown emails show the git author's name, as on the Hub; the first commit is carol's via the API.
    assert authors == [["Someone Else"], [carol], [carol]]


# ----------------------------------------------------------------------------------------------------
# Repository and user names are case-insensitive for lookup; the stored spelling is what listings show.
# ----------------------------------------------------------------------------------------------------
def test_repo_ids_are_case_insensitive(api: HfApi, alice, server, unique_name, tmp_path: Path) -> None:
    stored = f"{alice.name}/{unique_name('MyModel')}"
    weights = os.urandom(3000)
    api.create_repo(stored)
    api.upload_file(path_or_fileobj=weights, path_in_repo="w.bin", repo_id=stored)  # LFS by .gitattributes
    other = stored.upper() if stored.upper() != stored else stored.lower()
    assert api.model_info(other).id == stored
    assert api.repo_exists(stored.lower()) and api.file_exists(stored.swapcase(), "w.bin")
    assert Path(api.hf_hub_download(other, "w.bin", cache_dir=tmp_path / "cache")).read_bytes() == weights
    api.upload_file(path_or_fileobj=b"via other case", path_in_repo="b.txt", repo_id=other)
    assert [model.id for model in api.list_models(author=alice.name.upper(), search=stored.split("/")[1])] == [stored]
    with pytest.raises(HfHubHTTPError) as raised:
        api.create_repo(stored.lower())
    assert raised.value.response.status_code == 409
    assert api.create_repo(stored.swapcase(), exist_ok=True).repo_id == stored
    # git and git-lfs under another spelling
    _git(tmp_path, "lfs", "install", "--skip-repo")
    _git(tmp_path, "clone", "-q", f"{server.url}/{other}", "clone")
    assert (tmp_path / "clone" / "w.bin").read_bytes() == weights
    assert (tmp_path / "clone" / "b.txt").read_bytes() == b"via other case"


def test_user_names_are_case_insensitive(server, alice) -> None:
    with pytest.raises(RuntimeError, match="already exists"):
        server.create_user(alice.name.upper())
    assert server.create_token(alice.name.upper())  # names the same user


# ----------------------------------------------------------------------------------------------------
# The sweep: every error a GET or HEAD can get names itself with X-Error-Code and X-Error-Message.
# (git's smart-HTTP routes answer git, in text/plain with WWW-Authenticate, and are not swept.)
# ----------------------------------------------------------------------------------------------------
REPO_GETS = (
    "/api/{kind}s/{rid}",
    "/api/{kind}s/{rid}/revision/main",
    "/api/{kind}s/{rid}/tree/main",
    "/api/{kind}s/{rid}/tree/main/sub",
    "/api/{kind}s/{rid}/refs",
    "/api/{kind}s/{rid}/commits/main",
    "/api/{kind}s/{rid}/auth-check",
    "/api/{kind}s/{rid}/xet-read-token/main",
    "/api/{kind}s/{rid}/storage",
    "/{prefix}{rid}/resolve/main/f.txt",
)


def _prefix(kind: str) -> str:
    return "" if kind == "model" else f"{kind}s/"


@pytest.fixture(scope="module")
def sweep_repos(api: HfApi, alice) -> dict[str, str]:
    public, private = f"{alice.name}/{make_name('sweep')}", f"{alice.name}/{make_name('sweep-private')}"
    api.create_repo(public)
    api.upload_file(path_or_fileobj=b"small", path_in_repo="f.txt", repo_id=public)
    api.upload_file(path_or_fileobj=os.urandom(2000), path_in_repo="w.bin", repo_id=public)
    api.create_repo(private, private=True)
    return {"public": public, "private": private}


def _sweep_cases(server, alice, bob, repos: dict[str, str]) -> list[tuple[str, str, dict[str, str], int, str]]:
    anon: dict[str, str] = {}
    as_alice, as_bob = {"Authorization": f"Bearer {alice.token}"}, {"Authorization": f"Bearer {bob.token}"}
    public, private = repos["public"], repos["private"]
    cases = []
    for kind in ("model", "dataset", "space"):
        for template in REPO_GETS:
            for rid in (f"{alice.name}/missing-repo", "bare-id"):
                path = template.format(kind=kind, rid=rid, prefix=_prefix(kind))
                cases += [
                    (path, "anonymous", anon, 401, "RepoNotFound"),
                    (path, "alice", as_alice, 404, "RepoNotFound"),
                ]
    for template in REPO_GETS:
        path = template.format(kind="model", rid=private, prefix="")
        cases += [(path, "anonymous", anon, 401, "RepoNotFound"), (path, "bob", as_bob, 404, "RepoNotFound")]
    for path in (
        f"/api/models/{public}/revision/nope",
        f"/api/models/{public}/tree/nope",
        f"/api/models/{public}/commits/nope",
        f"/{public}/resolve/nope/f.txt",
    ):
        cases.append((path, "alice", as_alice, 404, "RevisionNotFound"))
    for path in (f"/api/models/{public}/tree/main/nothing-here", f"/{public}/resolve/main/nothing-here"):
        cases.append((path, "alice", as_alice, 404, "EntryNotFound"))
    for path in (f"/api/models/{public}/auth-check/write", f"/api/models/{public}/xet-write-token/main"):
        cases.append((path, "anonymous", anon, 401, "Forbidden"))
    cases.append((f"/api/models/{public}/auth-check/write", "bob", as_bob, 403, "Forbidden"))  # uploading is not
    for name in ("f.txt", "w.bin"):
        cases.append((f"/{public}/resolve/main/{name}", "alice", {**as_alice, "Range": "bytes=99999-"}, 416, ""))
    cases.append(("/api/whoami-v2", "bad token", {"Authorization": "Bearer my_not-a-token"}, 401, "Unauthorized"))
    cases.append(("/api/whoami-v2", "anonymous", anon, 401, "Unauthorized"))
    cases.append((f"/xet-cas/v1/reconstructions/{'a' * 64}", "anonymous", anon, 401, "Unauthorized"))
    return [(path, who, headers, status, code or "RangeNotSatisfiable") for path, who, headers, status, code in cases]


def test_error_answers_name_themselves_on_get_and_head(server, alice, bob, sweep_repos, http: httpx.Client) -> None:
    wrong = []
    for path, who, headers, status, code in _sweep_cases(server, alice, bob, sweep_repos):
        for method in ("GET", "HEAD"):
            response = http.request(method, path, headers=headers)
            got = (
                response.status_code,
                response.headers.get("X-Error-Code"),
                bool(response.headers.get("X-Error-Message")),
            )
            if got != (status, code, True):
                wrong.append(f"{method} {path} as {who}: {got}, expected {(status, code, True)}")
    assert wrong == []


def test_conflicts_and_stale_parents_name_themselves(api: HfApi, sweep_repos, alice_http: httpx.Client) -> None:
    public = sweep_repos["public"]
    conflict = alice_http.post("/api/repos/create", json={"name": public})
    assert (conflict.status_code, conflict.headers.get("X-Error-Code")) == (409, "Conflict")
    api.create_branch(public, branch="dup-branch")
    duplicate = alice_http.post(f"/api/models/{public}/branch/dup-branch", json={})
    assert (duplicate.status_code, duplicate.headers.get("X-Error-Code")) == (409, "Conflict")
    body = b'{"key": "header", "value": {"summary": "s", "parentCommit": "' + b"0" * 40 + b'"}}\n'
    stale = alice_http.post(
        f"/api/models/{public}/commit/main", content=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert (stale.status_code, stale.headers.get("X-Error-Code")) == (412, "PreconditionFailed")
    assert all(response.headers.get("X-Error-Message") for response in (conflict, duplicate, stale))


# ----------------------------------------------------------------------------------------------------
# Endpoints the client has that were missing
# ----------------------------------------------------------------------------------------------------
def test_super_squash_history(api: HfApi, alice, make_repo, tmp_path: Path) -> None:
    rid = make_repo({"file.txt": b"content", "lfs.bin": os.urandom(1500)})
    api.upload_file(path_or_fileobj=b"another", path_in_repo="file.txt", repo_id=rid)
    files_before = sorted(api.list_repo_files(rid))
    api.create_branch(rid, branch="side")
    api.create_tag(rid, tag="v1")
    side_head = api.list_repo_commits(rid, revision="side")[0].commit_id
    api.super_squash_history(rid, commit_message="Fresh start")
    (only,) = api.list_repo_commits(rid)
    assert (only.title, only.authors) == ("Fresh start", [alice.name])
    assert sorted(api.list_repo_files(rid)) == files_before
    assert Path(api.hf_hub_download(rid, "file.txt", cache_dir=tmp_path)).read_bytes() == b"another"
    assert api.list_repo_commits(rid, revision="side")[0].commit_id == side_head  # other refs untouched
    with pytest.raises(HfHubHTTPError) as refused:
        api.super_squash_history(rid, branch="v1")  # the Hub squashes branches only
    assert refused.value.response.status_code == 400
    with pytest.raises(RevisionNotFoundError):
        api.super_squash_history(rid, branch="no-such-branch")
    with pytest.raises(HfHubHTTPError) as forbidden:
        HfApi(endpoint=api.endpoint, token=False).super_squash_history(rid)
    assert forbidden.value.response.status_code == 401


def test_list_and_permanently_delete_lfs_files(
    api: HfApi, bob_api: HfApi, alice_http: httpx.Client, make_repo, server, tmp_path: Path
) -> None:
    kept, dropped, shared = os.urandom(2100), os.urandom(2200), os.urandom(2300)
    rid = make_repo({"kept.bin": kept, "old/dropped.bin": dropped, "shared.bin": shared})
    other = make_repo({"shared.bin": shared})
    api.delete_files(rid, ["old/dropped.bin", "shared.bin"])
    listed = {item.filename.rsplit("/", 1)[-1]: item for item in api.list_lfs_files(rid)}
    assert sorted(listed) == sorted(
        ["kept.bin", hashlib.sha256(dropped).hexdigest(), hashlib.sha256(shared).hexdigest()]
    )
    assert listed["kept.bin"].ref == "refs/heads/main" and listed["kept.bin"].size == len(kept)
    blobs = server.data_dir / "lfs" / "objects"
    stored = {path.name for path in blobs.rglob("*") if path.is_file()}
    assert {hashlib.sha256(data).hexdigest() for data in (kept, dropped, shared)} <= stored

    with pytest.raises(HfHubHTTPError) as in_use:  # still at the head of main
        api.permanently_delete_lfs_files(rid, [listed["kept.bin"]])
    assert in_use.value.response.status_code == 409
    with pytest.raises(HfHubHTTPError) as not_writer:
        bob_api.permanently_delete_lfs_files(rid, [listed["kept.bin"]])
    assert not_writer.value.response.status_code == 403

    unused = [item for name, item in listed.items() if name != "kept.bin"]
    api.permanently_delete_lfs_files(rid, unused)
    assert [item.filename for item in api.list_lfs_files(rid)] == ["kept.bin"]
    stored = {path.name for path in blobs.rglob("*") if path.is_file()}
    assert hashlib.sha256(dropped).hexdigest() not in stored  # referenced by nothing else: gone
    assert hashlib.sha256(shared).hexdigest() in stored  # still another repo's
    assert Path(api.hf_hub_download(other, "shared.bin", cache_dir=tmp_path)).read_bytes() == shared
    # The deleted object can no longer be committed to the repository without uploading it again.
    oid = hashlib.sha256(dropped).hexdigest()
    lines = [
        {"key": "header", "value": {"summary": "reuse"}},
        {"key": "lfsFile", "value": {"path": "again.bin", "algo": "sha256", "oid": oid, "size": len(dropped)}},
    ]
    refused = alice_http.post(
        f"/api/models/{rid}/commit/main",
        content="\n".join(json.dumps(line) for line in lines),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert refused.status_code == 400 and "never uploaded" in refused.headers["X-Error-Message"]


def test_hf_repos_ls_lists_own_repos_of_every_type(server, make_repo, unique_name, tmp_path: Path) -> None:
    dave = unique_name("dave")
    server.create_user(dave)
    token = server.create_token(dave)
    dave_api = HfApi(endpoint=server.url, token=token)
    model = dave_api.create_repo(f"{dave}/Weights").repo_id
    dave_api.upload_file(path_or_fileobj=os.urandom(4000), path_in_repo="w.bin", repo_id=model)
    dataset = dave_api.create_repo(f"{dave}/data", repo_type="dataset", private=True).repo_id
    listed = {repo.id: repo for repo in dave_api.list_user_repos()}
    assert sorted(listed) == sorted([model, dataset])
    assert (listed[model].type, listed[model].storage, listed[model].visibility) == ("model", 4000, "public")
    assert (listed[dataset].type, listed[dataset].visibility) == ("dataset", "private")
    env = {**os.environ, "HF_ENDPOINT": server.url, "HF_TOKEN": token, "HF_HOME": str(tmp_path)}
    hf = Path(sys.executable).with_name("hf")
    done = subprocess.run([str(hf), "repos", "ls"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert model in done.stdout and dataset in done.stdout
    with pytest.raises(HfHubHTTPError) as other:
        dave_api.list_user_repos(namespace="someone-else").__iter__().__next__()
    assert other.value.response.status_code == 404


def _wait_for_xet_hash(api: HfApi, rid: str, path: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the server converts uploaded LFS objects to Xet in the background
        (info,) = api.get_paths_info(rid, [path], expand=True)
        if info.xet_hash:
            return info.xet_hash
        time.sleep(0.2)
    raise AssertionError(f"{rid}/{path} got no Xet reconstruction")


@pytest.mark.parametrize("uploaded_through", ["lfs", "xet"])
def test_cross_repo_copy(
    api: HfApi,
    bob_api: HfApi,
    bob,
    server,
    make_repo,
    http: httpx.Client,
    tmp_path: Path,
    monkeypatch,
    uploaded_through: str,
) -> None:
    weights, config = os.urandom(5000), b'{"copied": true}'
    with monkeypatch.context() as patched:
        if uploaded_through == "xet":  # the source holds the object as Xet only (no LFS blob)
            from huggingface_hub import constants

            patched.setattr(constants, "HF_HUB_DISABLE_XET", False)
            patched.setenv("HF_XET_CACHE", str(tmp_path / "xet-cache"))
            patched.setenv("HF_XET_TELEMETRY_ENABLED", "false")
        source = make_repo({"w.bin": weights, "config.json": config})
    secret = make_repo({"secret.bin": os.urandom(4000)}, private=True)
    xet_hash = _wait_for_xet_hash(api, source, "w.bin")
    stored_as_blob = any((server.data_dir / "lfs" / "objects").rglob(hashlib.sha256(weights).hexdigest()))
    assert stored_as_blob is (uploaded_through == "lfs")
    target = bob_api.create_repo(f"{bob.name}/{make_name('copy-target')}").repo_id
    copies = [
        CommitOperationCopy("w.bin", "copied/w.bin", src_repo_id=source, src_repo_type="model"),
        CommitOperationCopy("config.json", "copied/config.json", src_repo_id=source, src_repo_type="model"),
    ]
    bob_api.create_commit(target, copies, commit_message="Copy from alice")
    for name, data in (("w.bin", weights), ("config.json", config)):
        path = bob_api.hf_hub_download(target, f"copied/{name}", cache_dir=tmp_path)
        assert Path(path).read_bytes() == data

    # Bytes one cannot read are never lent: a private repo of someone else is missing, a hash not in the
    # source fails, and the target must be writable.
    with pytest.raises(RepositoryNotFoundError):
        bob_api.create_commit(
            target,
            [CommitOperationCopy("secret.bin", "stolen.bin", src_repo_id=secret, src_repo_type="model")],
            commit_message="steal",
        )
    bob_headers = {"Authorization": f"Bearer {bob.token}"}
    secret_sha = api.get_paths_info(secret, ["secret.bin"])[0].lfs.sha256
    forged = http.post(
        f"/api/models/{source}/lfs-files/duplicate",
        headers=bob_headers,
        json={"target": {"type": "model", "name": target}, "files": [{"sha256": secret_sha, "xetHash": xet_hash}]},
    )
    assert forged.status_code == 200 and [item["sha256"] for item in forged.json()["failed"]] == [secret_sha]
    sha = hashlib.sha256(weights).hexdigest()
    not_writer = http.post(
        f"/api/models/{source}/lfs-files/duplicate",
        headers=bob_headers,
        json={"target": {"type": "model", "name": source}, "files": [{"sha256": sha, "xetHash": xet_hash}]},
    )
    assert not_writer.status_code == 403


# ----------------------------------------------------------------------------------------------------
# Spaces
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sdk", ["gradio", "docker"])
def test_space_is_created_with_its_sdk(api: HfApi, alice, unique_name, sdk: str, tmp_path: Path) -> None:
    rid = api.create_repo(f"{alice.name}/{unique_name()}", repo_type="space", space_sdk=sdk).repo_id
    info = api.space_info(rid)
    assert info.sdk == sdk and info.card_data["sdk"] == sdk
    readme = Path(api.hf_hub_download(rid, "README.md", repo_type="space", cache_dir=tmp_path)).read_text()
    assert readme.startswith("---\n") and f"\nsdk: {sdk}\n" in readme
    assert sorted(api.list_repo_files(rid, repo_type="space")) == [".gitattributes", "README.md"]


@pytest.mark.parametrize("sdk", [None, "flask", 3])
def test_space_needs_a_valid_sdk(alice_http: httpx.Client, api: HfApi, alice, unique_name, sdk) -> None:
    name = unique_name()
    body = {"name": name, "type": "space", **({"sdk": sdk} if sdk is not None else {})}
    refused = alice_http.post("/api/repos/create", json=body)
    assert refused.status_code == 400 and "sdk" in refused.headers["X-Error-Message"]
    assert not api.repo_exists(f"{alice.name}/{name}", repo_type="space")


# ----------------------------------------------------------------------------------------------------
# Card metadata is validated as the Hub validates it, by /api/validate-yaml and by commits.
# ----------------------------------------------------------------------------------------------------
def b64encode(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


BAD_MODEL_INDEX = """---
license: mit
model-index:
- name: tiny
  results:
  - task:
      type: text-classification
    metrics:
    - type: accuracy
---
# Card
"""


def test_card_metadata_is_validated(api: HfApi, alice_http: httpx.Client, make_repo) -> None:
    from huggingface_hub import ModelCard, RepoCard, metadata_update

    with pytest.raises(ValueError, match=r"model-index\[0\]\.results\[0\]\.dataset"):
        RepoCard(BAD_MODEL_INDEX).validate()  # (ModelCard's own parser would refuse it before asking)
    with pytest.raises(ValueError, match=r'"license" must be one of \[apache-2\.0, mit, '):
        ModelCard("---\nlicense: not-a-license\n---\n# Card\n").validate()
    ModelCard("---\nlicense: apache-2.0\n---\n# Card\n").validate()
    with pytest.warns(UserWarning, match="empty or missing yaml metadata"):
        api._validate_yaml("# A card without metadata\n")

    rid = make_repo({"README.md": b"---\nlicense: mit\n---\n# Card\n"})
    with pytest.raises(ValueError, match="license"):
        metadata_update(rid, {"license": "my-own-license"}, overwrite=True)
    with pytest.raises(ValueError, match=r"Invalid metadata in README\.md"):
        RepoCard(BAD_MODEL_INDEX).push_to_hub(rid)
    with pytest.raises(ValueError, match=r"model-index\[0\]\.results\[0\]\.dataset"):
        api.create_commit(rid, [CommitOperationAdd("README.md", BAD_MODEL_INDEX.encode())], commit_message="bad card")
    # The commit itself is refused too, whatever the client checked before.
    lines = [
        {"key": "header", "value": {"summary": "bad card"}},
        {"key": "file", "value": {"path": "README.md", "encoding": "base64", "content": b64encode(BAD_MODEL_INDEX)}},
    ]
    refused = alice_http.post(
        f"/api/models/{rid}/commit/main",
        content="\n".join(json.dumps(line) for line in lines),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["message"] == '"model-index[0].results[0].dataset" is required'
    assert api.model_info(rid).card_data["license"] == "mit"


# ----------------------------------------------------------------------------------------------------
# Background LFS -> Xet conversion
# ----------------------------------------------------------------------------------------------------
def test_conversion_of_a_deleted_repo_ends_quietly(api: HfApi, make_repo, server) -> None:
    rid = make_repo()
    log_start = len(server.log_text())
    api.upload_file(path_or_fileobj=os.urandom(24 * 1024 * 1024), path_in_repo="big.bin", repo_id=rid)
    api.delete_repo(rid)  # while the server converts the object it just received
    time.sleep(3)
    log = server.log_text()[log_start:]
    assert "to Xet failed" not in log and "Traceback" not in log, log
