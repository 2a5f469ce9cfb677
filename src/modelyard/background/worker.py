"""`modelyard worker`: runs the queued background jobs, outside the serving processes and below their priority.

`modelyard serve` starts `MODELYARD_BACKGROUND_WORKERS` of them as its children (and stops them with it); more can
run anywhere that reaches the same data directory and database. Each one claims one job at a time from the
`background_jobs` table (services/jobs.py), renews its lease while the job runs, and removes the job when it is
done or records its failure for a later try.

A worker runs under SCHED_IDLE at nice 19: it gets a CPU only when no serving thread wants one, and the kernel then
gives its disk reads and writes the idle I/O class too (on schedulers that have classes, such as BFQ).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from modelyard.config import Settings
from modelyard.services import index_admin, jobs, repo_index, xet_convert
from modelyard.services.hub import Hub

log = logging.getLogger("modelyard.worker")
POLL_SECONDS = 1.0


def lower_priority() -> None:
    """Lowest CPU priority for this process and every thread it starts later (they inherit it)."""
    os.nice(19 - os.nice(0))
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


class Worker:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.handlers: dict[str, Callable[[jobs.Job], None]] = {
            xet_convert.KIND: lambda job: xet_convert.run_job(hub, job),
            repo_index.KIND: lambda job: index_admin.run_job(hub, job),
        }

    def run_one(self) -> bool:
        """Claim and run one due job; False when none was due."""
        job = jobs.claim(self.hub, self.owner, tuple(self.handlers))
        if job is None:
            return False
        done = threading.Event()
        beating = threading.Thread(target=self._heartbeat, args=(job, done), name="modelyard-job-heartbeat")
        beating.start()
        try:
            self.handlers[job.kind](job)
        except BaseException as error:
            if not isinstance(error, Exception):  # stopped (SIGTERM): another worker takes the job up at once
                jobs.release(self.hub, job, self.owner)
                raise
            delay = jobs.fail(self.hub, job, self.owner, f"{type(error).__name__}: {error}")
            log.warning("Background job %s %s failed (attempt %d; next try in %.0fs): %s", job.kind, job.subject,
                        job.attempts, delay.total_seconds(), error)  # fmt: skip
        else:
            jobs.finish(self.hub, job, self.owner)
        finally:
            done.set()
            beating.join()
        return True

    def _heartbeat(self, job: jobs.Job, done: threading.Event) -> None:
        while not done.wait(jobs.HEARTBEAT_SECONDS):
            try:
                if not jobs.heartbeat(self.hub, job, self.owner):
                    return  # the job is gone (its repository was deleted): the handler ends on its own
            except Exception as error:  # a busy database: the lease outlives a few missed beats
                log.warning("Could not renew the lease of background job %s %s: %s", job.kind, job.subject, error)

    def run(self, keep_going: Callable[[], bool]) -> None:
        while keep_going():
            try:
                ran = self.run_one()
            except Exception:  # the database went away for a moment: keep serving the queue
                log.exception("The background worker could not reach its queue")
                ran = False
            if not ran:
                time.sleep(POLL_SECONDS)


def main(settings: Settings, parent_pid: int | None) -> None:
    """Run jobs until killed, or until the process that started us (`modelyard serve`) is gone."""
    lower_priority()
    signal.signal(signal.SIGTERM, _exit)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     [worker %(process)d] %(message)s")
    hub = Hub.open(settings, migrate=parent_pid is None)  # `serve` migrated before it started us
    Worker(hub).run(lambda: parent_pid is None or os.getppid() == parent_pid)


def _exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def spawn(count: int) -> list[subprocess.Popen[bytes]]:
    """Start `count` workers as children of this process; they read their settings from the environment."""
    command = [sys.executable, "-m", "modelyard", "worker", "--parent-pid", str(os.getpid())]
    # Low priority from the start (imports included); `serve` has no threads yet, so preexec_fn is safe here.
    return [subprocess.Popen(command, preexec_fn=lower_priority) for _ in range(count)]


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
