"""Background jobs (LFS -> Xet conversion): run by low-priority worker processes, failures recorded, shown by
`modelyard admin stats` and retried, and conversion switched off by configuration."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import Server, launch_server
from helpers import sha256_bytes


@dataclass
class Hub:
    server: Server
    token: str

    def api(self):
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.server.url, token=self.token)

    def upload(self, repo: str, data: bytes) -> str:
        """Create `alice/<repo>` and upload `data` through LFS (the tests run the client with Xet off)."""
        api = self.api()
        api.create_repo(f"alice/{repo}")
        api.upload_file(path_or_fileobj=data, path_in_repo="weights.bin", repo_id=f"alice/{repo}")
        return sha256_bytes(data)

    def head(self, repo: str) -> httpx.Response:
        return httpx.head(f"{self.server.url}/alice/{repo}/resolve/main/weights.bin", timeout=30)

    def jobs(self) -> dict:
        return json.loads(self.server.admin("stats", "--json"))["backgroundJobs"]


def _hub(root: Path, env: dict[str, str]) -> Iterator[Hub]:
    with launch_server(root, extra_env=env) as server:
        server.create_user("alice")
        yield Hub(server, server.create_token("alice", "write"))


@pytest.fixture(scope="module")
def workerless(tmp_path_factory) -> Iterator[Hub]:
    """A hub whose `serve` starts no worker (the tests start them), retrying failed jobs after 8 s, 16 s, 32 s..."""
    env = {"MODELYARD_BACKGROUND_WORKERS": "0", "MODELYARD_BACKGROUND_RETRY_SECONDS": "8"}
    yield from _hub(tmp_path_factory.mktemp("workerless"), env)


@pytest.fixture(scope="module")
def conversion_off(tmp_path_factory) -> Iterator[Hub]:
    yield from _hub(tmp_path_factory.mktemp("conversion-off"), {"MODELYARD_XET_CONVERT_LFS": "false"})


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        found += [int(child) for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return found


def _command(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_text().split("\0")


def _workers_of(server: Server) -> list[int]:
    assert server.proc is not None
    return [pid for pid in _children(server.proc.pid) if "worker" in _command(pid)]


def _wait_for(condition, what: str, timeout: float = 90):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.3)


@contextmanager
def _worker(hub: Hub, log_dir: Path) -> Iterator[subprocess.Popen]:
    """A `modelyard worker` of its own, as a second host would run one, on the hub's data dir and database."""
    server = hub.server
    storage = ["--data-dir", str(server.data_dir), "--database-url", server.db_url]
    with open(log_dir / "worker.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "modelyard", "worker", *storage],
            env=server.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_runs_its_workers_below_serving_priority(server: Server) -> None:
    """Jobs run at idle priority; the lease keeper does not, or a busy machine could starve its heartbeats until
    the lease ran out and another worker ran the job a second time."""
    workers = _workers_of(server)
    assert len(workers) == 1, "MODELYARD_BACKGROUND_WORKERS defaults to one worker process"
    (worker,) = workers
    started = re.compile(
        rf"\[worker {worker}\] Running background jobs at idle priority; leases renewed by thread (\d+)"
    )
    found = _wait_for(lambda: started.search(server.log_text()), "the worker to lower its priority")
    keeper = int(found[1])
    assert keeper != worker and str(keeper) in os.listdir(f"/proc/{worker}/task")
    assert os.sched_getscheduler(worker) == os.SCHED_IDLE  # the main thread, which runs the jobs
    assert os.getpriority(os.PRIO_PROCESS, worker) == 19
    assert os.sched_getscheduler(keeper) == os.SCHED_OTHER
    assert os.getpriority(os.PRIO_PROCESS, keeper) == os.getpriority(os.PRIO_PROCESS, server.proc.pid)


def test_a_failed_conversion_is_recorded_shown_and_retried(workerless: Hub, tmp_path: Path) -> None:
    assert _workers_of(workerless.server) == [], "MODELYARD_BACKGROUND_WORKERS=0 starts none"
    data = os.urandom(3 * 1024 * 1024 + 5)
    oid = workerless.upload("corrupt", data)
    assert workerless.jobs()["queued"] == 1
    # Bit rot: the stored blob no longer holds the object's bytes, so its Xet copy cannot be verified.
    blob = next(workerless.server.data_dir.glob(f"lfs/objects/*/*/{oid}"))
    blob.write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])

    with _worker(workerless, tmp_path):
        jobs = _wait_for(lambda: (found := workerless.jobs())["failed"] and found, "the conversion to fail")
        assert jobs["queued"] == 0 and jobs["running"] == 0
        (failed,) = jobs["failedJobs"]
        assert failed["kind"] == "xet-convert" and failed["subject"] == oid
        assert failed["repo"] == {"type": "model", "id": "alice/corrupt"}
        assert failed["attempts"] >= 1
        assert f"not {oid}: is the blob corrupt?" in failed["lastError"]
        shown = workerless.server.admin("stats")
        assert "background jobs: 0 queued, 0 running, 1 failed" in shown
        assert f"failed xet-convert {oid} (model alice/corrupt)" in shown and "is the blob corrupt?" in shown
        assert "x-xet-hash" not in workerless.head("corrupt").headers  # no Xet copy of the wrong bytes

        blob.write_bytes(data)  # restored from a backup: the next try succeeds on its own
        _wait_for(lambda: "x-xet-hash" in workerless.head("corrupt").headers, "the retried conversion")
        assert workerless.jobs() == {"queued": 0, "running": 0, "failed": 0, "failedJobs": []}
    download = httpx.get(f"{workerless.server.url}/alice/corrupt/resolve/main/weights.bin", timeout=60)
    assert download.status_code == 200 and download.content == data


def test_jobs_wait_for_a_worker_and_any_worker_runs_them(workerless: Hub, tmp_path: Path) -> None:
    workerless.upload("later", os.urandom(2 * 1024 * 1024))
    time.sleep(2)
    assert workerless.jobs()["queued"] == 1 and "x-xet-hash" not in workerless.head("later").headers
    with _worker(workerless, tmp_path):
        _wait_for(lambda: "x-xet-hash" in workerless.head("later").headers, "the conversion by a separate worker")
        # The file is served as Xet a moment before the worker deletes the job: stopped in between, it gives it back.
        idle = {"queued": 0, "running": 0, "failed": 0, "failedJobs": []}
        _wait_for(lambda: workerless.jobs() == idle, "the worker to finish the job")


def test_conversion_switched_off(conversion_off: Hub) -> None:
    conversion_off.upload("plain", os.urandom(2 * 1024 * 1024))
    assert conversion_off.jobs() == {"queued": 0, "running": 0, "failed": 0, "failedJobs": []}
    time.sleep(3)  # the hub's own worker is running: it has nothing to do
    head = conversion_off.head("plain")
    assert head.status_code in (200, 302) and "x-xet-hash" not in head.headers


def test_conversion_dedups_against_what_is_stored(server: Server, api, alice_http: httpx.Client, make_repo) -> None:
    """A fine-tune pushed through LFS shares most of its chunks with its base: the conversion stores only the rest."""
    base = os.urandom(8 * 1024 * 1024)
    tuned = base[: 4 * 1024 * 1024] + os.urandom(1000) + base[4 * 1024 * 1024 + 1000 :]

    def pending() -> int:
        jobs = json.loads(server.admin("stats", "--json"))["backgroundJobs"]
        return jobs["queued"] + jobs["running"]

    def stored_once_idle() -> int:  # earlier tests' conversions finished too
        _wait_for(lambda: pending() == 0, "an idle worker")
        return alice_http.get("/api/storage").json()["xetStoredBytes"]

    def converted(data: bytes) -> int:
        rid = make_repo()
        api.upload_file(path_or_fileobj=data, path_in_repo="weights.bin", repo_id=rid)
        url = f"{server.url}/{rid}/resolve/main/weights.bin"
        _wait_for(lambda: "x-xet-hash" in httpx.head(url, timeout=30).headers, "the conversion")
        return stored_once_idle()

    before = stored_once_idle()
    after_base = converted(base)
    after_tuned = converted(tuned)
    assert after_base - before >= len(base)  # random bytes: stored whole
    assert after_tuned - after_base < len(base) // 10  # the changed chunks only
