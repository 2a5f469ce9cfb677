"""git and git-lfs against the live server: clone, fetch and push over smart HTTP, with the hub's rules.

Real `git` and `git-lfs` binaries (`make system-deps` installs them), each test with its own HOME so that
nothing leaks into (or out of) the user's git configuration.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import BadRequestError, HfHubHTTPError
from huggingface_hub.utils import get_session, hf_raise_for_status

from helpers import LFS_CONTENT_TYPE, file_line, header_line, ndjson, sha256_bytes, user_files
from helpers.git import Git

README = b"---\nlicense: mit\n---\n# A model\n"
CONFIG = b'{"hidden_size": 8}\n'
AUTH_REFUSED = ("Authentication failed", "could not read Username", "terminal prompts disabled")


def _pkt(text: str) -> bytes:
    data = text.encode()
    return f"{len(data) + 4:04x}".encode() + data


@pytest.fixture(scope="module")
def git_binaries() -> None:
    missing = [tool for tool in ("git", "git-lfs") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not installed: run `make system-deps` (apt-get install git git-lfs)")


@pytest.fixture
def git(tmp_path: Path, server, git_binaries) -> Git:
    return Git.isolated(tmp_path / "home", server.url)


@pytest.fixture
def lfs_repo(api: HfApi, make_repo) -> Callable[..., tuple[str, dict[str, bytes]]]:
    """A repo made through the API, with regular files and LFS files (uploaded by huggingface_hub)."""

    def factory(**kwargs) -> tuple[str, dict[str, bytes]]:
        files = {
            "README.md": README,
            "config.json": CONFIG,
            "model.safetensors": os.urandom(300_000),
            "weights/extra.bin": os.urandom(70_000),
        }
        return make_repo(files, **kwargs), files

    return factory


def _worktree_files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts[:1]
    }


def _indexed_last_modified(api: HfApi, repo_id: str):
    """lastModified as the repo listing shows it: from the index, not from git (as model_info's is)."""
    namespace = repo_id.split("/")[0]
    return next(model.last_modified for model in api.list_models(author=namespace) if model.id == repo_id)


def _assert_rejected(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode != 0, f"expected git to fail\n{done.stdout}\n{done.stderr}"
    for needle in needles:
        assert needle in done.stderr, done.stderr


# --------------------------------------------------------------------------------------------------------------
# Clone and fetch
# --------------------------------------------------------------------------------------------------------------
def test_clone_materializes_lfs_files(git: Git, api: HfApi, lfs_repo, tmp_path: Path):
    rid, files = lfs_repo()

    clone = git.clone(rid, tmp_path / "clone")

    assert {k: v for k, v in _worktree_files(clone).items() if k != ".gitattributes"} == files
    assert git.head(clone) == api.model_info(rid).sha
    lfs_files = git("lfs", "ls-files", "--name-only", cwd=clone).stdout.split()
    assert sorted(lfs_files) == ["model.safetensors", "weights/extra.bin"]
    # git sees exactly the API's history.
    log = git("log", "--format=%H", cwd=clone).stdout.split()
    assert log == [c.commit_id for c in api.list_repo_commits(rid)]


def test_clone_with_skip_smudge_keeps_pointers(git: Git, lfs_repo, tmp_path: Path):
    rid, files = lfs_repo()

    clone = git.clone(rid, tmp_path / "clone", env={"GIT_LFS_SKIP_SMUDGE": "1"})

    pointer = (clone / "model.safetensors").read_text()
    assert pointer.startswith("version https://git-lfs.github.com/spec/v1\n")
    assert f"oid sha256:{sha256_bytes(files['model.safetensors'])}\n" in pointer
    assert f"size {len(files['model.safetensors'])}\n" in pointer
    assert (clone / "config.json").read_bytes() == CONFIG
    # ... and `git lfs pull` fetches them later.
    git("lfs", "pull", cwd=clone)
    assert (clone / "model.safetensors").read_bytes() == files["model.safetensors"]


def test_clone_url_variants_and_protocol_versions(git: Git, api: HfApi, lfs_repo, tmp_path: Path):
    rid, files = lfs_repo()
    head = api.model_info(rid).sha
    for index, (suffix, version) in enumerate([("", "2"), (".git", "2"), ("", "0"), (".git", "0")]):
        dest = tmp_path / f"clone-{index}"
        git("-c", f"protocol.version={version}", "clone", git.url(rid, suffix=suffix), str(dest))
        assert git.head(dest) == head
        assert (dest / "model.safetensors").read_bytes() == files["model.safetensors"]


def test_clone_dataset_and_space(git: Git, api: HfApi, alice, unique_name, tmp_path: Path):
    files = {"data/train.csv": b"a,b\n1,2\n", "weights.bin": b"\x00" * 1000}
    for repo_type in ("dataset", "space"):
        rid = f"{alice.name}/{unique_name(repo_type)}"
        api.create_repo(rid, repo_type=repo_type, space_sdk="static" if repo_type == "space" else None)
        operations = [CommitOperationAdd(path, data) for path, data in files.items()]
        api.create_commit(rid, operations, commit_message="Add files", repo_type=repo_type)
        dest = tmp_path / repo_type
        git("clone", git.url(rid, repo_type), str(dest))
        assert {k: v for k, v in _worktree_files(dest).items() if k in files} == files
        assert git.head(dest) == api.repo_info(rid, repo_type=repo_type).sha


def test_dataset_named_like_a_route_keyword(git: Git, api: HfApi, alice, tmp_path: Path):
    """/datasets/alice/resolve/info/refs must reach git, not the model resolve route."""
    rid = f"{alice.name}/resolve"
    api.create_repo(rid, repo_type="dataset", exist_ok=True)
    api.upload_file(repo_id=rid, repo_type="dataset", path_or_fileobj=b"x\n", path_in_repo="x.txt")
    dest = tmp_path / "resolve"
    git("clone", git.url(rid, "dataset"), str(dest))
    assert (dest / "x.txt").read_bytes() == b"x\n"


def test_fetch_after_api_commits(git: Git, api: HfApi, lfs_repo, tmp_path: Path):
    rid, _ = lfs_repo()
    clone = git.clone(rid, tmp_path / "clone")
    # Many local commits make git send a long list of `have`s: a gzip-compressed negotiation body.
    for number in range(60):
        (clone / "local.txt").write_text(f"{number}\n")
        git.commit_all(clone, f"local {number}")
    new = api.upload_file(repo_id=rid, path_or_fileobj=b"from the API\n", path_in_repo="api.txt").oid

    for version in ("0", "2"):
        git("-c", f"protocol.version={version}", "fetch", "origin", cwd=clone)
        assert git.head(clone, "origin/main") == new
    git("-c", "protocol.version=0", "fetch", "origin", "main:from-api", cwd=clone)
    assert git("show", "from-api:api.txt", cwd=clone).stdout == "from the API\n"


def test_smart_http_wire_format(server, lfs_repo, http: httpx.Client):
    rid, _ = lfs_repo()

    v0 = http.get(f"/{rid}/info/refs", params={"service": "git-upload-pack"})
    assert v0.status_code == 200
    assert v0.headers["content-type"] == "application/x-git-upload-pack-advertisement"
    assert "no-cache" in v0.headers["cache-control"]
    assert v0.content.startswith(b"001e# service=git-upload-pack\n0000")
    assert b"refs/heads/main" in v0.content

    v2 = http.get(f"/{rid}/info/refs", params={"service": "git-upload-pack"}, headers={"Git-Protocol": "version=2"})
    assert v2.content.startswith(b"000eversion 2\n")

    # A v2 ls-refs request, gzip-compressed as git sends large bodies.
    request = _pkt("command=ls-refs\n") + b"0001" + _pkt("peel\n") + _pkt("ref-prefix refs/heads/\n") + b"0000"
    listed = http.post(
        f"/{rid}.git/git-upload-pack",
        content=gzip.compress(request),
        headers={
            "Content-Type": "application/x-git-upload-pack-request",
            "Content-Encoding": "gzip",
            "Git-Protocol": "version=2",
        },
    )
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "application/x-git-upload-pack-result"
    assert b" refs/heads/main" in listed.content

    # Dumb HTTP is not served; API routes are not shadowed by git's.
    assert http.get(f"/{rid}/info/refs").status_code == 403
    assert http.get(f"/api/models/{rid}").status_code == 200


def test_lfs_locks_api_answers_not_implemented(http: httpx.Client, lfs_repo):
    rid, _ = lfs_repo()
    for method, path in [
        ("POST", "locks/verify"),
        ("GET", "locks"),
        ("POST", "locks"),
        ("POST", "locks/1/unlock"),
    ]:
        answer = http.request(method, f"/{rid}.git/info/lfs/{path}", json={}, headers={"Accept": LFS_CONTENT_TYPE})
        assert answer.status_code == 501, (method, path, answer.text)
        assert answer.headers["content-type"].startswith(LFS_CONTENT_TYPE)
        assert "locking" in answer.json()["message"].lower()


# --------------------------------------------------------------------------------------------------------------
# Push
# --------------------------------------------------------------------------------------------------------------
def test_push_text_and_lfs_files(git: Git, api: HfApi, alice, lfs_repo, tmp_path: Path, hf_cache: Path):
    rid, files = lfs_repo()
    indexed_before = _indexed_last_modified(api, rid)
    git.login(alice.token)
    clone = git.clone(rid, tmp_path / "clone")
    weights = os.urandom(2_000_000)
    (clone / "notes.md").write_bytes(b"# Notes\npushed with git\n")
    (clone / "config.json").write_bytes(b'{"hidden_size": 16}\n')
    (clone / "pytorch_model.bin").write_bytes(weights)
    sha = git.commit_all(clone, "Push with git")
    time.sleep(1.1)  # lastModified has a resolution of one second

    pushed = git("push", "origin", "main", cwd=clone)

    # No noise from the locks API, no warnings: a plain, clean push.
    assert "locking" not in pushed.stderr.lower() and "warning" not in pushed.stderr.lower(), pushed.stderr
    info = api.model_info(rid, files_metadata=True)
    assert info.sha == sha
    assert _indexed_last_modified(api, rid) > indexed_before  # the index saw the push
    downloaded = api.hf_hub_download(rid, "pytorch_model.bin", revision=sha, cache_dir=hf_cache)
    assert Path(downloaded).read_bytes() == weights
    assert Path(api.hf_hub_download(rid, "notes.md", cache_dir=hf_cache)).read_bytes() == b"# Notes\npushed with git\n"
    assert Path(api.hf_hub_download(rid, "config.json", cache_dir=hf_cache)).read_bytes() == b'{"hidden_size": 16}\n'
    siblings = {s.rfilename: s for s in info.siblings}
    assert siblings["pytorch_model.bin"].lfs is not None
    assert siblings["pytorch_model.bin"].lfs.sha256 == sha256_bytes(weights)
    assert siblings["pytorch_model.bin"].size == len(weights)
    assert user_files(api.list_repo_files(rid)) == set(files) | {"notes.md", "pytorch_model.bin"}
    assert api.list_repo_commits(rid)[0].title == "Push with git"

    # A second clone gets everything back, LFS included.
    again = git.clone(rid, tmp_path / "again")
    assert (again / "pytorch_model.bin").read_bytes() == weights


def test_push_new_branch_and_tags(git: Git, api: HfApi, alice, lfs_repo, tmp_path: Path, hf_cache: Path):
    rid, _ = lfs_repo()
    git.login(alice.token)
    clone = git.clone(rid, tmp_path / "clone")
    main = git.head(clone)
    git("checkout", "-q", "-b", "feature/x", cwd=clone)
    (clone / "feature.txt").write_text("on a branch\n")
    branch_sha = git.commit_all(clone, "Branch work")
    git("tag", "v1.0", main, cwd=clone)
    git("tag", "-a", "v2.0", "-m", "annotated", branch_sha, cwd=clone)

    git("push", "origin", "feature/x", "v1.0", "v2.0", cwd=clone)

    refs = api.list_repo_refs(rid)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": main, "feature/x": branch_sha}
    assert {t.name: t.target_commit for t in refs.tags} == {"v1.0": main, "v2.0": branch_sha}
    assert api.model_info(rid).sha == main  # main did not move
    path = api.hf_hub_download(rid, "feature.txt", revision="feature/x", cache_dir=hf_cache)
    assert Path(path).read_text() == "on a branch\n"

    # Deleting a branch that is not the default one is fine.
    git("push", "origin", ":feature/x", cwd=clone)
    assert [b.name for b in api.list_repo_refs(rid).branches] == ["main"]


def test_force_push_and_deletion_of_main_rejected(git: Git, api: HfApi, alice, lfs_repo, tmp_path: Path):
    rid, _ = lfs_repo()
    head = api.model_info(rid).sha
    git.login(alice.token)
    clone = git.clone(rid, tmp_path / "clone")
    git("reset", "-q", "--hard", "HEAD~1", cwd=clone)
    (clone / "rewritten.txt").write_text("history rewrite\n")
    git.commit_all(clone, "Rewrite history")

    forced = git("push", "--force", "origin", "main", cwd=clone, check=False)
    _assert_rejected(forced, "non-fast-forward", "pre-receive hook declined")
    assert api.model_info(rid).sha == head

    deleted = git("push", "origin", ":main", cwd=clone, check=False)
    assert deleted.returncode != 0
    assert "main" in deleted.stderr
    assert api.model_info(rid).sha == head

    special = git("push", "origin", "HEAD:refs/pr/1", "HEAD:refs/convert/parquet", cwd=clone, check=False)
    _assert_rejected(special, "refs/pr/1", "refs/convert/parquet")
    refs = api.list_repo_refs(rid, include_pull_requests=True)
    assert refs.pull_requests == [] and refs.converts == []


def test_push_without_or_with_wrong_credentials_refused(
    git: Git, api: HfApi, bob, alice_read_token: str, lfs_repo, tmp_path: Path
):
    rid, _ = lfs_repo()
    head = api.model_info(rid).sha
    clone = git.clone(rid, tmp_path / "clone")  # anonymous clone of a public repo is fine
    (clone / "anonymous.txt").write_text("nope\n")
    git.commit_all(clone, "Anonymous push")

    anonymous = git("push", "origin", "main", cwd=clone, check=False)
    assert anonymous.returncode != 0
    assert any(message in anonymous.stderr for message in AUTH_REFUSED), anonymous.stderr

    wrong = git("push", git.url(rid).replace("http://", "http://alice:hf_wrong_token@"), "main", cwd=clone, check=False)
    _assert_rejected(wrong, "Authentication failed")

    for token in (bob.token, alice_read_token):  # valid tokens without write access to alice's repo
        url = git.url(rid).replace("http://", f"http://user:{token}@")
        refused = git("push", url, "main", cwd=clone, check=False)
        _assert_rejected(refused, "403")
    assert api.model_info(rid).sha == head


def test_push_of_lfs_pointer_without_object_rejected(git: Git, api: HfApi, alice, lfs_repo, tmp_path: Path):
    rid, _ = lfs_repo()
    head = api.model_info(rid).sha
    git.login(alice.token)
    clone = git.clone(rid, tmp_path / "clone")
    oid = sha256_bytes(os.urandom(64))
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 123456\n"
    (clone / "weights/ghost.safetensors").write_text(pointer)
    # git-lfs out of the way: the pointer text is committed as is, and its pre-push hook is skipped.
    no_lfs = ("-c", "filter.lfs.process=", "-c", "filter.lfs.clean=cat", "-c", "filter.lfs.required=false")
    git(*no_lfs, "add", "weights/ghost.safetensors", cwd=clone)
    git(*no_lfs, "commit", "-q", "-m", "A pointer to nothing", cwd=clone)
    assert git("cat-file", "-p", "HEAD:weights/ghost.safetensors", cwd=clone).stdout == pointer

    pushed = git("push", "--no-verify", "origin", "main", cwd=clone, check=False)

    _assert_rejected(pushed, "remote:", "weights/ghost.safetensors", oid, "never uploaded", "pre-receive hook declined")
    assert api.model_info(rid).sha == head


def test_push_of_large_regular_file_rejected(git: Git, api: HfApi, alice, lfs_repo, tmp_path: Path):
    rid, _ = lfs_repo()
    head = api.model_info(rid).sha
    git.login(alice.token)
    clone = git.clone(rid, tmp_path / "clone")
    (clone / "data").mkdir()
    (clone / "data/huge.txt").write_bytes(os.urandom(10 * 1024 * 1024 + 1))  # not an LFS pattern
    git.commit_all(clone, "Too big for a regular file")

    pushed = git("push", "origin", "main", cwd=clone, check=False)

    _assert_rejected(pushed, "data/huge.txt", "git-lfs", "pre-receive hook declined")
    assert api.model_info(rid).sha == head


# Cards: a push is checked by the same card validation as an API commit and /api/validate-yaml.
BAD_CARDS = {
    "unknown-license": "---\nlicense: my-own-license\n---\n# A model\n",
    "unparsable-yaml": "---\nlicense: [mit\n---\n# A model\n",
    "bad-model-index": "---\nmodel-index:\n- name: tiny\n---\n# A model\n",
}


@pytest.mark.parametrize("card", list(BAD_CARDS.values()), ids=list(BAD_CARDS))
def test_a_bad_card_is_refused_by_api_commits_and_pushes_alike(
    git: Git, api: HfApi, alice, make_repo, tmp_path: Path, card: str
):
    rid = make_repo({"README.md": README})
    head = api.model_info(rid).sha
    # The commit endpoint (sent as is, through huggingface_hub's own HTTP session): a 400 whose message names
    # README.md, which huggingface_hub raises as BadRequestError.
    committed = get_session().post(
        f"{api.endpoint}/api/models/{rid}/commit/main",
        content=ndjson(header_line("Bad card"), file_line("README.md", card.encode())),
        headers={**api._build_hf_headers(), "Content-Type": "application/x-ndjson"},
    )
    message = committed.json()["error"]
    assert committed.status_code == 400 and message.startswith("Invalid metadata in README.md.\n- "), message
    assert committed.headers["X-Error-Message"] == message.replace("\n", " ")[:1000].strip()
    with pytest.raises(BadRequestError, match=r"Invalid metadata in README\.md\."):
        hf_raise_for_status(committed, endpoint_name="commit")
    # huggingface_hub asks /api/validate-yaml before it commits a README.md, and raises the same words.
    with pytest.raises(ValueError) as checked_first:
        api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=rid)
    assert str(checked_first.value) == message

    # git push: the pre-receive hook refuses it with the same message, line by line.
    git.login(alice.token)
    clone = git.clone(rid, tmp_path / "clone")
    (clone / "README.md").write_text(card)
    git.commit_all(clone, "Bad card")
    pushed = git("push", "origin", "main", cwd=clone, check=False)
    _assert_rejected(pushed, "pre-receive hook declined")
    shown = [line.rstrip() for line in pushed.stderr.splitlines()]  # git pads remote lines with spaces
    first, *rest = message.splitlines()
    assert [f"remote: error: {first}", *(f"remote: {line}" for line in rest)] == shown[1 : 2 + len(rest)], shown
    assert api.model_info(rid).sha == head
    assert api.model_info(rid).card_data["license"] == "mit"


def test_a_good_card_is_accepted_by_api_commits_and_pushes(git: Git, api: HfApi, alice, make_repo, tmp_path: Path):
    rid = make_repo({"README.md": README})
    with_eval = (
        "---\nlicense: apache-2.0\nmodel-index:\n- name: tiny\n  results:\n  - task: {type: text-classification}\n"
        "    dataset: {type: imdb, name: IMDB}\n    metrics:\n    - {type: accuracy, value: 0.9}\n---\n# A model\n"
    )
    api.upload_file(path_or_fileobj=with_eval.encode(), path_in_repo="README.md", repo_id=rid)
    assert api.model_info(rid).card_data["license"] == "apache-2.0"

    git.login(alice.token)
    clone = git.clone(rid, tmp_path / "clone")
    (clone / "README.md").write_text(with_eval.replace("apache-2.0", "cc-by-4.0"))
    sha = git.commit_all(clone, "Card with a new license")
    git("push", "origin", "main", cwd=clone)
    info = api.model_info(rid)
    assert info.sha == sha and info.card_data["license"] == "cc-by-4.0"
    # A card without metadata only gets a warning from validate-yaml: pushed, as the API commits it.
    (clone / "README.md").write_text("# Just a title\n")
    sha = git.commit_all(clone, "Card without metadata")
    git("push", "origin", "main", cwd=clone)
    assert api.model_info(rid).sha == sha


def test_private_repo_clone_needs_credentials(git: Git, api: HfApi, alice, bob, lfs_repo, unique_name, tmp_path):
    rid, files = lfs_repo(private=True)
    missing = f"{alice.name}/{unique_name('missing')}"

    anonymous = git("clone", git.url(rid), str(tmp_path / "anonymous"), check=False)
    assert anonymous.returncode != 0
    assert any(message in anonymous.stderr for message in AUTH_REFUSED), anonymous.stderr
    # A missing repository looks exactly the same.
    nothing = git("clone", git.url(missing), str(tmp_path / "nothing"), check=False)
    assert nothing.stderr.replace(missing, rid).replace("nothing", "anonymous") == anonymous.stderr

    # Someone else's token: "not found", like a missing repository.
    as_bob = git("clone", git.url(rid).replace("http://", f"http://bob:{bob.token}@"), str(tmp_path / "b"), check=False)
    assert as_bob.returncode != 0 and "not found" in as_bob.stderr

    git.login(alice.token)
    clone = git.clone(rid, tmp_path / "clone")
    assert {k: v for k, v in _worktree_files(clone).items() if k != ".gitattributes"} == files
    assert git.head(clone) == api.model_info(rid).sha


# --------------------------------------------------------------------------------------------------------------
# Pushes racing API commits: one winner, a clean rejection for the other, no lost update.
# --------------------------------------------------------------------------------------------------------------
def test_push_based_on_stale_head_is_rejected(git: Git, api: HfApi, alice, lfs_repo, tmp_path: Path):
    rid, _ = lfs_repo()
    git.login(alice.token)
    clone = git.clone(rid, tmp_path / "clone")
    api_commit = api.upload_file(repo_id=rid, path_or_fileobj=b"api wins\n", path_in_repo="api.txt").oid
    (clone / "git.txt").write_text("git loses\n")
    git.commit_all(clone, "Based on the old head")

    pushed = git("push", "origin", "main", cwd=clone, check=False)

    _assert_rejected(pushed, "rejected")
    assert api.model_info(rid).sha == api_commit
    assert "api.txt" in api.list_repo_files(rid) and "git.txt" not in api.list_repo_files(rid)


def test_api_commit_based_on_stale_head_after_push_gets_412(git: Git, api: HfApi, alice, lfs_repo, tmp_path: Path):
    rid, _ = lfs_repo()
    base = api.model_info(rid).sha
    git.login(alice.token)
    clone = git.clone(rid, tmp_path / "clone")
    (clone / "git.txt").write_text("git wins\n")
    pushed = git.commit_all(clone, "Pushed first")
    git("push", "origin", "main", cwd=clone)

    with pytest.raises(HfHubHTTPError) as excinfo:
        api.create_commit(
            rid, [CommitOperationAdd("api.txt", b"api loses\n")], commit_message="stale", parent_commit=base
        )

    assert excinfo.value.response.status_code == 412
    assert api.model_info(rid).sha == pushed


def test_ref_moving_between_advertisement_and_update_rejects_the_push(
    git: Git, api: HfApi, alice, lfs_repo, server, tmp_path: Path
):
    """The race itself: receive-pack's compare-and-swap sees the API commit that landed after it advertised."""
    rid, _ = lfs_repo()
    base = api.model_info(rid).sha
    clone = git.clone(rid, tmp_path / "clone")
    (clone / "git.txt").write_text("too late\n")
    new = git.commit_all(clone, "Loses the race")
    pack = subprocess.run(
        ["git", "pack-objects", "--stdout", "--revs", "-q"],
        input=f"{new}\n^{base}\n".encode(),
        cwd=clone,
        env=git.env,
        capture_output=True,
        check=True,
    ).stdout
    # The API commit lands after the client saw `base` as the head ...
    winner = api.upload_file(repo_id=rid, path_or_fileobj=b"first\n", path_in_repo="api.txt").oid
    # ... and the push still names `base` as the old value of main.
    body = _pkt(f"{base} {new} refs/heads/main\0 report-status\n") + b"0000" + pack
    answer = httpx.post(
        f"{server.url}/{rid}/git-receive-pack",
        content=body,
        headers={"Content-Type": "application/x-git-receive-pack-request"},
        auth=("alice", alice.token),
        timeout=60,
    )

    assert answer.status_code == 200
    assert b"unpack ok" in answer.content
    assert b"ng refs/heads/main" in answer.content
    assert api.model_info(rid).sha == winner
    assert api.list_repo_commits(rid)[0].commit_id == winner


def test_push_leaves_a_clean_log(git: Git, server, alice, lfs_repo, tmp_path: Path):
    """git-lfs's lock probe is expected: neither an error, nor a warning, nor an access-log line."""
    rid, _ = lfs_repo()
    git.login(alice.token)
    clone = git.clone(rid, tmp_path / "clone")
    (clone / "pytorch_model.bin").write_bytes(os.urandom(500_000))
    git.commit_all(clone, "Weights")
    start = len(server.log_text())
    git("push", "origin", "main", cwd=clone)
    lines = server.log_text()[start:].splitlines()
    assert any("info/lfs/objects/batch" in line for line in lines), "the push did not go through git-lfs"
    for needle in ("Traceback", "Unhandled", "ERROR", "WARNING", "locks/verify"):
        assert not [line for line in lines if needle in line], needle


def test_fetch_a_pull_request_ref_but_never_push_to_it(git: Git, api: HfApi, alice, make_repo, tmp_path: Path):
    rid = make_repo({"a.txt": b"a\n"})
    opened = api.create_commit(
        rid, [CommitOperationAdd(path_in_repo="b.txt", path_or_fileobj=b"b\n")], commit_message="Add b", create_pr=True
    )
    git.login(alice.token)
    clone = git.clone(rid, tmp_path / "clone")
    assert "refs/pr/1" in git("ls-remote", "origin", cwd=clone).stdout  # advertised

    git("fetch", "origin", "refs/pr/1", cwd=clone)
    assert git.head(clone, "FETCH_HEAD") == opened.oid
    git("checkout", "-q", "FETCH_HEAD", cwd=clone)
    assert (clone / "b.txt").read_bytes() == b"b\n"

    (clone / "c.txt").write_text("c\n")
    git.commit_all(clone, "Add c")
    pushed = git("push", "origin", "HEAD:refs/pr/1", cwd=clone, check=False)
    _assert_rejected(pushed, "refs/pr/1: pull request and conversion refs are managed by the hub, not pushed")
    assert api.list_repo_refs(rid, include_pull_requests=True).pull_requests[0].target_commit == opened.oid


def _quarantines(git_dir: Path) -> list[Path]:
    return sorted((git_dir / "objects").glob("tmp_objdir-incoming-*"))


def test_a_push_cut_off_leaves_a_quarantine_that_the_start_up_sweep_removes(
    git: Git, api: HfApi, alice, server, make_repo, tmp_path: Path
):
    """A client that hangs up mid-push gets its `git receive-pack` killed, which leaves the objects received so far
    in git's quarantine directory; the start-up sweep removes those untouched for a day, never a live push's."""
    from modelyard.config import Settings
    from modelyard.services import leftovers
    from modelyard.services.hub import Hub

    rid = make_repo({"README.md": README + os.urandom(8).hex().encode()})
    head = api.model_info(rid).sha
    (git_dir,) = [ref.parents[2] for ref in (server.data_dir / "git").glob("*/*.git/refs/heads/main")
                  if ref.read_text().strip() == head]  # fmt: skip
    git.login(alice.token)
    clone = git.clone(rid, tmp_path / "clone")
    (clone / "notes.txt").write_bytes(os.urandom(4 * 1024 * 1024).hex().encode())
    new = git.commit_all(clone, "Big notes")
    revs = f"{new}\n^{head}\n".encode()
    pack = subprocess.run(["git", "pack-objects", "--stdout", "--revs"], input=revs, cwd=clone, capture_output=True)
    assert pack.returncode == 0 and len(pack.stdout) > 1024 * 1024

    def cut_off_push():
        yield _pkt(f"{head} {new} refs/heads/main\0report-status\n") + b"0000"
        yield pack.stdout[: len(pack.stdout) // 2]
        deadline = time.monotonic() + 30
        while not _quarantines(git_dir) and time.monotonic() < deadline:
            time.sleep(0.02)
        raise ConnectionAbortedError("the client hangs up")

    with pytest.raises(ConnectionAbortedError):
        httpx.post(
            f"{server.url}/{rid}.git/git-receive-pack",
            content=cut_off_push(),
            auth=("git", alice.token),
            headers={"Content-Type": "application/x-git-receive-pack-request"},
            timeout=60,
        )
    time.sleep(1)  # receive-pack is killed: nothing removes its quarantine
    (left,) = _quarantines(git_dir)
    assert api.model_info(rid).sha == head
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in [left, *left.rglob("*")]:
        os.utime(path, (two_days_ago, two_days_ago))
    live = git_dir / "objects" / "tmp_objdir-incoming-live"  # a push being received right now
    (live / "pack").mkdir(parents=True)

    hub = Hub.open(Settings(data_dir=server.data_dir, database_url=server.db_url), migrate=False)
    assert leftovers.sweep(hub) >= 1  # what `modelyard serve` runs at start-up
    assert _quarantines(git_dir) == [live]
    shutil.rmtree(live)
    git("push", "origin", "main", cwd=clone)  # the repository is whole: the push goes through
    assert api.model_info(rid).sha == new
