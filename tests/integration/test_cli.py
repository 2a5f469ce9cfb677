"""The `hf` command-line tool (the console script shipped with huggingface_hub) against the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import RepositoryNotFoundError

from helpers import read_tree, sha256_bytes, user_files, write_tree

HF = Path(sys.executable).with_name("hf")


def run_hf(args: list[str], *, endpoint: str, token: str | None, home: Path, cwd: Path, xet: bool = False) -> str:
    """Run `hf ARGS`; with `xet`, uploads and downloads go through hf_xet (with a fresh hf_xet cache)."""
    if not HF.exists():
        pytest.fail(f"the `hf` console script is missing next to {sys.executable}")
    env = dict(os.environ)
    env.pop("HF_TOKEN", None)
    env.update(
        {
            "HF_ENDPOINT": endpoint,
            "HF_HUB_DISABLE_XET": "0" if xet else "1",
            "HF_XET_CACHE": str(home / "xet-cache"),
            "HF_XET_TELEMETRY_ENABLED": "false",
            "HF_HOME": str(home),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_UPDATE_CHECK": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        }
    )
    if token:
        env["HF_TOKEN"] = token
    done = subprocess.run(
        [str(HF), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, (
        f"`hf {' '.join(args)}` exited with {done.returncode}\n--- stdout ---\n{done.stdout}\n"
        f"--- stderr ---\n{done.stderr}"
    )
    return done.stdout


@pytest.mark.parametrize("repo_type", ["model", "dataset"])
def test_hf_upload_then_download(endpoint: str, alice, repo_id: str, repo_type: str, tmp_path: Path):
    files = {
        "README.md": b"---\nlicense: apache-2.0\n---\n# Uploaded with the hf CLI\n",
        "config.json": b'{"cli": true}\n',
        "data/part-0.txt": b"line\n" * 1000,
        "data/deeper/part-1.txt": b"another line\n",
        "weights/model.bin": os.urandom(300_000),
    }
    source = write_tree(tmp_path / "source", files)
    home = tmp_path / "hf-home"
    home.mkdir()

    run_hf(
        ["upload", repo_id, str(source), ".", "--repo-type", repo_type, "--commit-message", "CLI upload"],
        endpoint=endpoint,
        token=alice.token,
        home=home,
        cwd=tmp_path,
    )
    target = tmp_path / "target"
    run_hf(
        ["download", repo_id, "--repo-type", repo_type, "--local-dir", str(target)],
        endpoint=endpoint,
        token=None,
        home=home,
        cwd=tmp_path,
    )

    got = read_tree(target)
    assert user_files(got) == set(files)
    for path, data in files.items():
        assert got[path] == data, path

    single = tmp_path / "single"
    run_hf(
        ["download", repo_id, "data/deeper/part-1.txt", "--repo-type", repo_type, "--local-dir", str(single)],
        endpoint=endpoint,
        token=None,
        home=home,
        cwd=tmp_path,
    )
    assert read_tree(single) == {"data/deeper/part-1.txt": files["data/deeper/part-1.txt"]}

    # Uploading again into the now existing repo (create_repo(exist_ok=True) meets a 409) adds a file.
    extra = write_tree(tmp_path / "extra", {"added-later.txt": b"second upload\n"})
    run_hf(
        ["upload", repo_id, str(extra / "added-later.txt"), "added-later.txt", "--repo-type", repo_type],
        endpoint=endpoint,
        token=alice.token,
        home=home,
        cwd=tmp_path,
    )
    later = tmp_path / "later"
    run_hf(
        ["download", repo_id, "--repo-type", repo_type, "--local-dir", str(later)],
        endpoint=endpoint,
        token=None,
        home=home,
        cwd=tmp_path,
    )
    assert user_files(read_tree(later)) == set(files) | {"added-later.txt"}
    assert (later / "added-later.txt").read_bytes() == b"second upload\n"


def test_readme_tour_whoami_create_and_upload_through_xet(server, alice, unique_name, tmp_path: Path):
    """The README's tour: `hf auth whoami`, `hf repos create`, then `hf upload` sending the weights through Xet."""
    home = tmp_path / "hf-home"
    home.mkdir()

    def hf(*args: str, token: str | None = alice.token) -> str:
        return run_hf(list(args), endpoint=server.url, token=token, home=home, cwd=tmp_path, xet=True)

    assert f"user: {alice.name}" in hf("auth", "whoami")
    assert json.loads(hf("auth", "whoami", "--json"))["user"] == alice.name

    private_id = f"{alice.name}/{unique_name('private')}"
    hf("repos", "create", private_id, "--private")
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=server.url, token=False).model_info(private_id)  # invisible to anonymous
    assert HfApi(endpoint=server.url, token=alice.token).model_info(private_id).private is True

    repo_id = f"{alice.name}/{unique_name('tour')}"
    weights = os.urandom(3 * 1024 * 1024 + 5)
    demo = write_tree(tmp_path / "demo", {"notes.txt": b"hello\n", "weights.bin": weights})
    log_start = len(server.log_text())
    hf("upload", repo_id, str(demo))  # creates the repo
    log = server.log_text()[log_start:]
    assert "POST /xet-cas/v1/xorbs/" in log, "the weights did not go through Xet"
    assert ".git/info/lfs/objects/batch" not in log

    head = httpx.head(f"{server.url}/{repo_id}/resolve/main/weights.bin")
    assert head.headers["X-Xet-Hash"]
    copy = tmp_path / "copy"
    hf("download", repo_id, "--local-dir", str(copy), token=None)
    got = read_tree(copy)
    assert user_files(got) == {"notes.txt", "weights.bin"}
    assert sha256_bytes(got["weights.bin"]) == sha256_bytes(weights)
    assert got["notes.txt"] == b"hello\n"


def test_hf_discussions_commands(server, alice, make_repo, tmp_path: Path):
    """Every `hf discussions` command 2.4 ships, on one pull request and one discussion."""
    rid = make_repo({"a.txt": b"a\n"})
    home = tmp_path / "home"

    def hf(*args: str) -> str:
        return run_hf(["discussions", *args], endpoint=server.url, token=alice.token, home=home, cwd=tmp_path)

    hf("create", rid, "--title", "A question", "--body", "Is **this** right?")
    hf("create", rid, "--title", "A change", "--pr")
    HfApi(endpoint=server.url, token=alice.token).create_commit(
        rid, [CommitOperationAdd("b.txt", b"b\n")], commit_message="Add b", revision="refs/pr/2"
    )
    listed = json.loads(hf("list", rid, "--status", "all", "--json"))
    assert sorted((item["num"], item["is_pull_request"]) for item in listed) == [(1, False), (2, True)]

    hf("comment", rid, "1", "--body", "Yes.")
    comment_id = next(
        event["id"] for event in json.loads(hf("info", rid, "1", "--json"))["events"] if "Yes." in json.dumps(event)
    )
    hf("edit", rid, "1", comment_id, "--body", "Yes, it is.")
    hf("rename", rid, "1", "The answered question")
    hf("close", rid, "1", "--yes")
    hf("reopen", rid, "1", "--yes")
    info = json.loads(hf("info", rid, "1", "--json"))
    assert info["title"] == "The answered question" and info["status"] == "open"
    assert "+b" in hf("diff", rid, "2")
    hf("merge", rid, "2", "--yes")
    assert json.loads(hf("info", rid, "2", "--json"))["status"] == "merged"
