"""Secrets stay secret on disk and in logs.

One server of its own, on a fresh data dir, used the way clients use it: an LFS upload by huggingface_hub
(signed PUT URLs from the batch API), a git-lfs clone (signed GET URLs) and a git push, the server's own
LFS -> Xet conversion, and a Xet fetch through a signed URL. Then:

- every directory under the data dir is exactly 0700 and no file grants anything to group or others (git
  objects are 0400, everything else 0600), the SQLite database (which holds the URL-signing key) included;
- the server log shows those signed requests, with every signature and token redacted.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi

from conftest import BACKEND, Server, User, launch_server

LFS_DATA = os.urandom(200_000)
TOKEN_PATTERNS = (re.compile(r"\bhf_\w{10,}"), re.compile(r"xet2\.[\w.-]+"))


@dataclass
class UsedServer:
    server: Server
    user: User
    repo_id: str
    fetch_signature: str  # of a Xet fetch URL handed out by the server


def _git(home: Path, *args: str, cwd: Path | None = None) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update({"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": ""})
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stdout}\n{done.stderr}"


def _xet_hash(server: Server, user: User, repo_id: str) -> str:
    """The Xet file hash of the LFS upload, once the server's background conversion has verified it."""
    url = f"{server.url}/{repo_id}/resolve/main/weights.bin"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = httpx.head(url, headers={"Authorization": f"Bearer {user.token}"})
        if "x-xet-hash" in response.headers:
            return response.headers["x-xet-hash"]
        time.sleep(0.5)
    pytest.fail("the LFS upload got no Xet copy within 60 s")


@pytest.fixture(scope="module")
def used_server(tmp_path_factory) -> UsedServer:
    if shutil.which("git") is None or shutil.which("git-lfs") is None:
        pytest.fail("git and git-lfs are needed: run `make system-deps`")
    root = tmp_path_factory.mktemp("private-data")
    with launch_server(root / "server") as server:
        server.create_user("alice")
        user = User("alice", server.create_token("alice", "write"))
        repo_id = "alice/secrets"
        api = HfApi(endpoint=server.url, token=user.token)
        api.create_repo(repo_id, private=True)
        api.upload_file(repo_id=repo_id, path_or_fileobj=LFS_DATA, path_in_repo="weights.bin")  # LFS: signed PUT

        home = root / "home"
        home.mkdir()
        _git(home, "lfs", "install", "--skip-repo")
        clone = root / "clone"
        host = server.url.removeprefix("http://")
        _git(home, "clone", f"http://alice:{user.token}@{host}/{repo_id}", str(clone))  # git-lfs: signed GET
        assert (clone / "weights.bin").read_bytes() == LFS_DATA
        (clone / "notes.txt").write_text("pushed with git\n")
        _git(home, "add", "notes.txt", cwd=clone)
        _git(home, "-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-qm", "Add notes", cwd=clone)
        _git(home, "push", "-q", "origin", "main", cwd=clone)

        auth = {"Authorization": f"Bearer {user.token}"}
        file_hash = _xet_hash(server, user, repo_id)
        read = httpx.get(f"{server.url}/api/models/{repo_id}/xet-read-token/main", headers=auth).json()
        cas = {"Authorization": f"Bearer {read['accessToken']}"}
        plan = httpx.get(f"{read['casUrl']}/v1/reconstructions/{file_hash}", headers=cas).json()
        fetch = next(iter(plan["fetch_info"].values()))[0]
        byte_range = f"bytes={fetch['url_range']['start']}-{fetch['url_range']['end']}"
        assert httpx.get(fetch["url"], headers={"Range": byte_range}).status_code in (200, 206)
        signature = httpx.URL(fetch["url"]).params["sig"]
        yield UsedServer(server, user, repo_id, signature)


def test_data_dir_is_readable_by_the_service_user_only(used_server: UsedServer):
    data_dir = used_server.server.data_dir
    wide_dirs, wide_files, seen = [], [], set()
    for directory, subdirs, files in os.walk(data_dir):
        for name in [directory, *(os.path.join(directory, sub) for sub in subdirs)]:
            if stat.S_IMODE(os.lstat(name).st_mode) != 0o700:
                wide_dirs.append(f"{oct(stat.S_IMODE(os.lstat(name).st_mode))} {name}")
        for name in files:
            path = Path(directory, name)
            mode = stat.S_IMODE(path.lstat().st_mode)
            if mode & 0o077:
                wide_files.append(f"{oct(mode)} {path}")
            seen.add(path.relative_to(data_dir).parts[0])
    assert wide_dirs == []
    assert wide_files == []
    # What the walk covered: git objects (API commit and git push), LFS objects, xorbs, the database.
    assert {"git", "lfs", "xet"} <= seen
    if BACKEND == "sqlite":
        assert stat.S_IMODE((data_dir / "modelyard.db").stat().st_mode) == 0o600  # holds the URL-signing key


def test_log_shows_signed_requests_without_signatures_or_tokens(used_server: UsedServer):
    log = used_server.server.log_text()
    # The signed transfers were logged (so the checks below look at real lines), with their signatures redacted.
    assert re.search(r'"PUT /api/lfs/\d+/[0-9a-f]{64}\?[^"]*sig=REDACTED', log), log[-3000:]
    assert re.search(r'"GET /api/lfs/\d+/[0-9a-f]{64}\?[^"]*sig=REDACTED', log), log[-3000:]
    assert re.search(r'"GET /xet-cas/v1/fetch/[0-9a-f]{64}\?[^"]*sig=REDACTED', log), log[-3000:]
    assert re.findall(r"sig=(?!REDACTED)[^&\s\"]*", log) == []
    assert used_server.fetch_signature not in log
    assert used_server.user.token not in log
    assert [pattern.pattern for pattern in TOKEN_PATTERNS if pattern.search(log)] == []
    assert "authorization" not in log.lower()
