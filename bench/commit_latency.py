"""Commit latency with and without fsync of git objects and refs, and 50 concurrent writers on one branch.

    .venv/bin/python bench/commit_latency.py [--commits 50] [--files 300]

Runs the one commit path (services.commits.commit, in-process: no HTTP) on a repository holding `--files` small
files. Each round commits one new small file to `main`, which writes a blob, the trees on its path, a commit and
the ref. The reference is the same run with libgit2's fsync turned off (what Modelyard did before); the
measurement turns it on (what the server does now: `ENABLE_FSYNC_GITDIR`). Then `--commits` threads commit at
once without a parent, under the repository's writer lock, and the bench reports their wall time and checks that
every commit landed on one line of history. It prints the figures and exits 0: a measurement, not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pygit2
from pygit2.enums import Option

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from _common import load_warning, machine_description, median, source_revision

from modelyard.config import Settings
from modelyard.domain.commit_ops import CommitRequest
from modelyard.domain.repo_ids import RepoRef, RepoType
from modelyard.services import commits, repos, users
from modelyard.services.hub import Hub


def sequential_latencies(hub: Hub, actor: users.Actor, record: repos.RepoRecord, label: str, count: int) -> list[float]:
    latencies = []
    for index in range(count):
        request = CommitRequest(summary=f"{label} {index}", files={f"{label}/{index}.txt": f"{index}\n".encode()})
        started = time.perf_counter()
        commits.commit(hub, actor, record, "main", request)
        latencies.append(time.perf_counter() - started)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=50)
    parser.add_argument("--files", type=int, default=300)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as work:
        hub = Hub.open(Settings(data_dir=Path(work) / "data"))
        users.create_user(hub, "bench")
        actor = users.authenticate(hub, users.create_token(hub, "bench", "write"))
        record = repos.create_repo(hub, actor, RepoRef(RepoType.MODEL, "bench", "commits"), private=False)
        seed = {f"seed/{i // 50}/file-{i}.txt": f"seed {i}\n".encode() for i in range(args.files)}
        commits.commit(hub, actor, record, "main", CommitRequest(summary="seed", files=seed))

        print(f"Machine: {machine_description()}\n{load_warning()}")
        print(f"Code: {source_revision()}; pygit2 {pygit2.__version__}, libgit2 {pygit2.LIBGIT2_VERSION}")
        print(f"Repository: {args.files} files; each commit adds one small file to main\n")
        results = {}
        for label, fsync in (("no-fsync", False), ("fsync", True), ("no-fsync-again", False), ("fsync-again", True)):
            pygit2.option(Option.ENABLE_FSYNC_GITDIR, fsync)
            latencies = sequential_latencies(hub, actor, record, label, args.commits)
            results[label] = latencies
            print(f"{label:>15}: median {median(latencies) * 1000:6.1f} ms, max {max(latencies) * 1000:6.1f} ms")

        pygit2.option(Option.ENABLE_FSYNC_GITDIR, True)
        before = repos.open_git(hub, record).resolve("main")
        started = time.perf_counter()
        with ThreadPoolExecutor(args.commits) as pool:
            requests = [
                CommitRequest(summary=f"concurrent {i}", files={f"concurrent/{i}.txt": b"x\n"})
                for i in range(args.commits)
            ]
            list(pool.map(lambda request: commits.commit(hub, actor, record, "main", request), requests))
        elapsed = time.perf_counter() - started
        git = repos.open_git(hub, record)
        history = git.history(git.resolve("main"), 0, args.commits + 1)
        linear = all(len(commit.parents) == 1 for commit in history) and history[args.commits].id == before
        print(
            f"\n{args.commits} concurrent commits (fsync on): {elapsed:.2f} s in all, "
            f"{elapsed / args.commits * 1000:.1f} ms each; all landed on one line: {linear}"
        )


if __name__ == "__main__":
    main()
