"""Many writers at once, and what crashes leave behind (issue 7).

50 threads call `upload_file` on `main` without `parent_commit`, on a repository holding 300 files, through one
server process, through `serve --workers 2`, and through two `serve` commands on one data dir and database. Every
call must succeed, the history must be one line of 52 commits (the repository's first, the seed and the 50), and
every file must be at the head. A commit that pinned a stale parent gets 412; pushes wait for the same writer
lock as API commits; a writer that waits too long gets 503, never 500; a `<ref>.lock` left by a crashed git
process is cleared; and start-up sweeps old upload leftovers but not fresh ones.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError

from conftest import Server, User, launch_server

WRITERS = 50
GIT_ENV = {
    **{key: value for key, value in os.environ.items() if not key.startswith("GIT_")},
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Pusher",
    "GIT_AUTHOR_EMAIL": "pusher@example.com",
    "GIT_COMMITTER_NAME": "Pusher",
    "GIT_COMMITTER_EMAIL": "pusher@example.com",
}
SEED_FILES = {f"seed/{index // 50}/file-{index}.txt": f"seed file {index}\n".encode() for index in range(300)}


def seed_repo(api: HfApi, repo_id: str) -> None:
    api.create_repo(repo_id)
    operations = [CommitOperationAdd(path, data) for path, data in SEED_FILES.items()]
    api.create_commit(repo_id, operations, commit_message="Seed 300 files")


def commit_concurrently(apis: list[HfApi], repo_id: str) -> dict[str, bytes]:
    """50 uploads without a parent, spread over `apis`; returns the files they wrote."""
    written = {f"concurrent/{index}.txt": f"writer {index}\n".encode() for index in range(WRITERS)}

    def upload(index: int) -> str:
        api = apis[index % len(apis)]
        path = f"concurrent/{index}.txt"
        return api.upload_file(
            repo_id=repo_id, path_or_fileobj=written[path], path_in_repo=path, commit_message=f"Writer {index}"
        ).oid

    with ThreadPoolExecutor(WRITERS) as pool:
        futures = [pool.submit(upload, index) for index in range(WRITERS)]
        failures = [repr(future.exception()) for future in futures if future.exception() is not None]
    assert failures == [], f"{len(failures)} of {WRITERS} commits failed: {failures[:3]}"
    return written


def assert_linear_history_with_every_file(api: HfApi, server: Server, token: str, repo_id: str, tmp_path: Path) -> None:
    written = {f"concurrent/{index}.txt" for index in range(WRITERS)}
    commits = api.list_repo_commits(repo_id)
    assert len(commits) == WRITERS + 2
    assert {commit.title for commit in commits} >= {f"Writer {index}" for index in range(WRITERS)}
    assert set(api.list_repo_files(repo_id)) >= {*SEED_FILES, *written}

    # One line: every commit has at most one parent, and the first-parent chain from the head covers them all.
    clone = tmp_path / "clone.git"
    git("clone", "-q", "--bare", clone_url(server, token, repo_id), str(clone))
    lines = subprocess.run(
        ["git", "rev-list", "--parents", "main"], cwd=clone, check=True, capture_output=True, text=True
    ).stdout.splitlines()
    assert len(lines) == WRITERS + 2
    assert all(len(line.split()) <= 2 for line in lines), "a merge commit in the history"
    first_parent = subprocess.run(
        ["git", "rev-list", "--first-parent", "--count", "main"], cwd=clone, check=True, capture_output=True, text=True
    )
    assert int(first_parent.stdout) == WRITERS + 2
    for path in ("concurrent/0.txt", f"concurrent/{WRITERS - 1}.txt", "seed/5/file-299.txt"):
        shown = subprocess.run(["git", "show", f"main:{path}"], cwd=clone, check=True, capture_output=True)
        assert shown.stdout == ({**SEED_FILES}.get(path) or f"writer {path.split('/')[1][:-4]}\n".encode())


def test_50_concurrent_commits_without_parent_all_land(
    api: HfApi, server: Server, alice: User, repo_id: str, tmp_path: Path
):
    seed_repo(api, repo_id)
    commit_concurrently([api], repo_id)
    assert_linear_history_with_every_file(api, server, alice.token, repo_id, tmp_path)


def test_stale_parent_still_gets_412_while_others_commit(api: HfApi, repo_id: str):
    seed_repo(api, repo_id)
    stale = api.model_info(repo_id).sha
    api.upload_file(repo_id=repo_id, path_or_fileobj=b"moved\n", path_in_repo="moved.txt")
    with pytest.raises(HfHubHTTPError) as excinfo:
        api.upload_file(repo_id=repo_id, path_or_fileobj=b"late\n", path_in_repo="late.txt", parent_commit=stale)
    assert excinfo.value.response.status_code == 412
    assert "late.txt" not in api.list_repo_files(repo_id)


def test_writers_racing_a_repository_delete_get_404_not_500(api: HfApi, repo_id: str):
    """A delete waits for the writer in the middle of a commit; writers still waiting, or still writing their
    blobs before the lock, find the repository gone: RepositoryNotFound, never a 500."""
    from huggingface_hub.errors import RepositoryNotFoundError

    outcomes: list[str] = []
    for round_ in range(6):
        name = f"{repo_id}-{round_}"
        api.create_repo(name)

        def write(index: int, name: str = name) -> str:
            try:
                if index % 2:
                    api.create_branch(name, branch=f"b{index}")
                else:
                    api.upload_file(repo_id=name, path_or_fileobj=b"x\n" * index, path_in_repo=f"f{index}.txt")
                return "landed"
            except RepositoryNotFoundError:
                return "gone"

        with ThreadPoolExecutor(max_workers=6) as pool:
            writers = [pool.submit(write, index) for index in range(5)]
            time.sleep(0.01 * round_)
            api.delete_repo(name)
            outcomes += [writer.result() for writer in writers]  # an HfHubHTTPError 500 would raise here
        assert not api.repo_exists(name)
    assert set(outcomes) <= {"landed", "gone"}


def test_a_leftover_git_ref_lock_does_not_block_commits(api: HfApi, server: Server, repo_id: str):
    """A `refs/heads/main.lock` left by a crashed git process is cleared under the hub's own lock."""
    api.create_repo(repo_id)
    head = api.upload_file(repo_id=repo_id, path_or_fileobj=repo_id.encode(), path_in_repo="unique.txt").oid
    leftover = git_dir_with_head(server, head) / "refs" / "heads" / "main.lock"
    leftover.write_text("0" * 40 + "\n")
    an_hour_ago = leftover.stat().st_mtime - 3600
    os.utime(leftover, (an_hour_ago, an_hour_ago))

    commit = api.upload_file(repo_id=repo_id, path_or_fileobj=b"after\n", path_in_repo="after.txt")
    assert api.model_info(repo_id).sha == commit.oid
    assert not leftover.exists()


def test_a_writer_that_crashed_holding_the_lock_does_not_block_commits(api: HfApi, server: Server, repo_id: str):
    """The writer lock is an flock: the kernel releases it when its holder dies, however it dies."""
    api.create_repo(repo_id)
    head = api.upload_file(repo_id=repo_id, path_or_fileobj=repo_id.encode(), path_in_repo="unique.txt").oid
    lock = git_dir_with_head(server, head) / "modelyard-writer.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_HANG, str(lock)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    finally:
        holder.kill()  # SIGKILL: no chance to clean up
        holder.wait(timeout=30)
    started = time.monotonic()
    commit = api.upload_file(repo_id=repo_id, path_or_fileobj=b"after\n", path_in_repo="after.txt")
    assert time.monotonic() - started < 10
    assert api.model_info(repo_id).sha == commit.oid


HOLD_AND_HANG = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(600)
"""


def git_dir_with_head(server: Server, head: str) -> Path:
    """The bare repository (in the server's data dir) whose main branch is at `head`."""
    (found,) = [
        main.parent.parent.parent
        for main in (server.data_dir / "git").glob("*/*.git/refs/heads/main")
        if main.read_text().strip() == head
    ]
    return found


def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, timeout=120)
    assert not check or done.returncode == 0, f"git {args[0]} exited with {done.returncode}: {done.stderr}"
    return done


def clone_url(server: Server, token: str, repo_id: str) -> str:
    return server.url.replace("http://", f"http://git:{token}@") + f"/{repo_id}"


@contextmanager
def holding_writer_lock(git_dir: Path) -> Iterator[None]:
    """Hold the repository's writer lock from outside the server, as a slow writer in another process would."""
    fd = os.open(git_dir / "modelyard-writer.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def clone_with_a_new_commit(server: Server, token: str, repo_id: str, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    git("clone", "-q", clone_url(server, token, repo_id), str(work))
    (work / "pushed.txt").write_text("pushed with git\n")
    git("add", "pushed.txt", cwd=work)
    git("commit", "-q", "-m", "Pushed with git", cwd=work)
    return work


def test_api_commits_and_pushes_take_the_same_writer_lock(
    api: HfApi, server: Server, alice: User, repo_id: str, tmp_path: Path
):
    api.create_repo(repo_id)
    head = api.upload_file(repo_id=repo_id, path_or_fileobj=repo_id.encode(), path_in_repo="unique.txt").oid
    git_dir = git_dir_with_head(server, head)
    work = clone_with_a_new_commit(server, alice.token, repo_id, tmp_path)

    with ThreadPoolExecutor(1) as pool:
        with holding_writer_lock(git_dir):
            pushed = pool.submit(git, "push", "-q", "origin", "main", cwd=work)
            time.sleep(1.5)
            assert not pushed.done(), "the push went through while another writer held the repository"
            assert api.model_info(repo_id).sha == head
        pushed.result()
    assert api.model_info(repo_id).sha == git("rev-parse", "HEAD", cwd=work).stdout.strip()

    with ThreadPoolExecutor(1) as pool:
        with holding_writer_lock(git_dir):
            committed = pool.submit(api.upload_file, repo_id=repo_id, path_or_fileobj=b"x\n", path_in_repo="x.txt")
            time.sleep(1.5)
            assert not committed.done(), "the API commit went through while another writer held the repository"
        landed = committed.result().oid
    assert api.model_info(repo_id).sha == landed


def test_a_push_clears_a_leftover_git_ref_lock(api: HfApi, server: Server, alice: User, repo_id: str, tmp_path: Path):
    api.create_repo(repo_id)
    head = api.upload_file(repo_id=repo_id, path_or_fileobj=repo_id.encode(), path_in_repo="unique.txt").oid
    leftover = git_dir_with_head(server, head) / "refs" / "heads" / "main.lock"
    work = clone_with_a_new_commit(server, alice.token, repo_id, tmp_path)
    leftover.write_text("0" * 40 + "\n")
    os.utime(leftover, (time.time() - 3600, time.time() - 3600))

    git("push", "-q", "origin", "main", cwd=work)
    assert api.model_info(repo_id).sha == git("rev-parse", "HEAD", cwd=work).stdout.strip()
    assert not leftover.exists()


LEFTOVERS = ("lfs/tmp/tmp-{}", "lfs/multipart/7-{}/1", "lfs/multipart/7-{}/tmp-2", "xet/tmp/tmp-{}")


@dataclass
class SecondServer:
    server: Server
    old: list[Path]
    fresh: list[Path]


@pytest.fixture(scope="module")
def impatient_server(server: Server, tmp_path_factory) -> Iterator[SecondServer]:
    """Another process on the main server's data dir and database, waiting only one second for a writer lock.

    Before it starts, crash leftovers are planted in the data dir: some two days old, some just written.
    """
    old = [server.data_dir / pattern.format("a" * 64) for pattern in LEFTOVERS]
    fresh = [server.data_dir / pattern.format("b" * 64) for pattern in LEFTOVERS]
    for path in [*old, *fresh]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial upload")
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in [*old, old[1].parent]:
        os.utime(path, (two_days_ago, two_days_ago))
    trash = server.data_dir / "git" / "ab" / f"{'c' * 32}.git.deleted-{'d' * 32}"
    (trash / "objects").mkdir(parents=True)
    old.append(trash)

    extra = {"MODELYARD_REPO_LOCK_TIMEOUT_SECONDS": "1"}
    with launch_server(tmp_path_factory.mktemp("impatient"), extra_env=extra, share=server) as srv:
        yield SecondServer(srv, old, fresh)
    for path in fresh:
        path.unlink(missing_ok=True)


def test_start_up_sweeps_crash_leftovers_but_not_live_uploads(impatient_server: SecondServer):
    assert [path for path in impatient_server.old if path.exists()] == []
    assert not impatient_server.old[1].parent.exists()  # the stale multipart upload's folder went too
    assert [path for path in impatient_server.fresh if not path.exists()] == []


def test_a_writer_that_waits_too_long_gets_503_not_500(
    impatient_server: SecondServer, server: Server, alice: User, repo_id: str, tmp_path: Path
):
    api = HfApi(endpoint=impatient_server.server.url, token=alice.token)
    api.create_repo(repo_id)
    head = api.upload_file(repo_id=repo_id, path_or_fileobj=b"before\n", path_in_repo="before.txt").oid
    work = clone_with_a_new_commit(impatient_server.server, alice.token, repo_id, tmp_path)

    with holding_writer_lock(git_dir_with_head(server, head)):
        with pytest.raises(HfHubHTTPError) as excinfo:
            api.upload_file(repo_id=repo_id, path_or_fileobj=b"late\n", path_in_repo="late.txt")
        assert excinfo.value.response.status_code == 503
        assert excinfo.value.response.headers["Retry-After"] == "1"
        assert "busy" in excinfo.value.response.headers["X-Error-Message"]
        with pytest.raises(HfHubHTTPError) as excinfo:
            api.create_branch(repo_id, branch="dev")
        assert excinfo.value.response.status_code == 503
        refused = git("push", "origin", "main", cwd=work, check=False)
        assert refused.returncode != 0
        assert "busy" in refused.stderr
    assert api.model_info(repo_id).sha == head
    assert api.upload_file(repo_id=repo_id, path_or_fileobj=b"late\n", path_in_repo="late.txt").oid


# --- Several processes on one data dir and database ----------------------------------------------------------------
@pytest.fixture(scope="module")
def two_worker_server(server: Server, tmp_path_factory) -> Iterator[Server]:
    """`modelyard serve --workers 2` on the main server's data dir and database."""
    with launch_server(tmp_path_factory.mktemp("two-workers"), share=server, workers=2) as srv:
        yield srv


def test_50_concurrent_commits_to_serve_with_two_workers(
    api: HfApi, server: Server, two_worker_server: Server, alice: User, repo_id: str, tmp_path: Path
):
    seed_repo(api, repo_id)
    commit_concurrently([HfApi(endpoint=two_worker_server.url, token=alice.token)], repo_id)
    assert_linear_history_with_every_file(api, server, alice.token, repo_id, tmp_path)


def test_50_concurrent_commits_through_two_servers_on_one_data_dir(
    api: HfApi, server: Server, two_worker_server: Server, alice: User, repo_id: str, tmp_path: Path
):
    """Two `modelyard serve` commands (three processes) on one data dir and database."""
    seed_repo(api, repo_id)
    commit_concurrently([api, HfApi(endpoint=two_worker_server.url, token=alice.token)], repo_id)
    assert_linear_history_with_every_file(api, server, alice.token, repo_id, tmp_path)
