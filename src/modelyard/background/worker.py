"""`modelyard worker`: runs the queued background jobs, outside the serving processes and below their priority.

`modelyard serve` starts `MODELYARD_BACKGROUND_WORKERS` of them as its children (and stops them with it); more can
run anywhere that reaches the same data directory and database. Each one claims one job at a time from the
`background_jobs` table (services/jobs.py), renews its lease while the job runs, and removes the job when it is
done or records its failure for a later try.

A worker runs its jobs under SCHED_IDLE at nice 19: they get a CPU only when no serving thread wants one, and the
kernel then gives their disk reads and writes the idle I/O class too (on schedulers that have classes, such as BFQ).
Its lease keeper does not: a heartbeat starved by a busy machine would let the lease run out while the job still
runs, and another worker would run it a second time. Linux schedules each thread by its own policy and nice value,
and a thread inherits them from the one that starts it; an unprivileged thread can lower its priority but never raise
it back (RLIMIT_NICE is 0). So a worker process starts at the priority of `serve`, starts its lease keeper, and only
then lowers the priority of its main thread, which runs the jobs and starts any other thread.
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
# Set by SIGTERM. The SystemExit it raises can surface from a database call as the library's own error (psycopg and
# SQLAlchemy turn an interrupted query into ProgrammingError/OperationalError): the worker must stop all the same.
STOPPING = threading.Event()


def lower_priority() -> None:
    """Lowest CPU priority for the calling thread and every thread it starts later (they inherit it)."""
    os.nice(19 - os.nice(0))
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


class LeaseKeeper:
    """Renews the lease of the job its worker runs, every `jobs.HEARTBEAT_SECONDS`, from a thread of its own that
    keeps the priority of the thread that made the keeper (see the module's docstring)."""

    def __init__(self, hub: Hub, owner: str) -> None:
        self.hub = hub
        self.owner = owner
        self._changed = threading.Condition()
        self._job: jobs.Job | None = None
        self._renewing = False
        self.thread = threading.Thread(target=self._run, name="modelyard-lease-keeper", daemon=True)
        self.thread.start()

    def keep(self, job: jobs.Job) -> None:
        with self._changed:
            self._job = job
            self._changed.notify_all()

    def drop(self) -> None:
        """Stop renewing; returns once no renewal is in flight, so that none lands after the job's end is recorded."""
        with self._changed:
            self._job = None
            self._changed.notify_all()
            self._changed.wait_for(lambda: not self._renewing)

    def _run(self) -> None:
        while True:
            job = self._due()
            if job is None:
                continue
            try:
                if not jobs.heartbeat(self.hub, job, self.owner):
                    self._forget(job)  # the job is gone (its repository was deleted): the handler ends on its own
            except Exception as error:  # a busy database: the lease outlives a few missed beats
                log.warning("Could not renew the lease of background job %s %s: %s", job.kind, job.subject, error)
            finally:
                with self._changed:
                    self._renewing = False
                    self._changed.notify_all()

    def _due(self) -> jobs.Job | None:
        """The job whose lease is due a renewal, marked in flight; None when it was dropped or replaced first."""
        with self._changed:
            self._changed.wait_for(lambda: self._job is not None)
            job = self._job
            if self._changed.wait_for(lambda: self._job is not job, timeout=jobs.HEARTBEAT_SECONDS):
                return None
            self._renewing = True
            return job

    def _forget(self, job: jobs.Job) -> None:
        with self._changed:
            if self._job is job:
                self._job = None


class Worker:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.handlers: dict[str, Callable[[jobs.Job], None]] = {
            xet_convert.KIND: lambda job: xet_convert.run_job(hub, job),
            repo_index.KIND: lambda job: index_admin.run_job(hub, job),
        }
        self.leases = LeaseKeeper(hub, self.owner)

    def run_one(self) -> bool:
        """Claim and run one due job; False when none was due."""
        job = jobs.claim(self.hub, self.owner, tuple(self.handlers))
        if job is None:
            return False
        self.leases.keep(job)
        try:
            self.handlers[job.kind](job)
        except BaseException as error:
            if not isinstance(error, Exception) or STOPPING.is_set():  # stopped: another worker takes the job up
                jobs.release(self.hub, job, self.owner)
                raise
            delay = jobs.fail(self.hub, job, self.owner, f"{type(error).__name__}: {error}")
            log.warning("Background job %s %s failed (attempt %d; next try in %.0fs): %s", job.kind, job.subject,
                        job.attempts, delay.total_seconds(), error)  # fmt: skip
        else:
            jobs.finish(self.hub, job, self.owner)
        finally:
            self.leases.drop()
        return True

    def run(self, keep_going: Callable[[], bool]) -> None:
        while keep_going():
            try:
                ran = self.run_one()
            except Exception:
                if STOPPING.is_set():
                    raise SystemExit(128 + signal.SIGTERM) from None
                # The database went away for a moment: keep serving the queue.
                log.exception("The background worker could not reach its queue")
                ran = False
            if not ran:
                time.sleep(POLL_SECONDS)


def main(settings: Settings, parent_pid: int | None) -> None:
    """Run jobs until killed, or until the process that started us (`modelyard serve`) is gone."""
    signal.signal(signal.SIGTERM, _exit)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     [worker %(process)d] %(message)s")
    hub = Hub.open(settings, migrate=parent_pid is None)  # `serve` migrated before it started us
    worker = Worker(hub)  # its lease keeper keeps the priority this process started with
    lower_priority()  # the jobs, and every thread they start, below the serving processes
    log.info("Running background jobs at idle priority; leases renewed by thread %d", worker.leases.thread.native_id)
    worker.run(lambda: parent_pid is None or os.getppid() == parent_pid)


def _exit(signum: int, _frame: object) -> None:
    STOPPING.set()
    raise SystemExit(128 + signum)


def spawn(count: int) -> list[subprocess.Popen[bytes]]:
    """Start `count` workers as children of this process; they read their settings from the environment."""
    command = [sys.executable, "-m", "modelyard", "worker", "--parent-pid", str(os.getpid())]
    # At serving priority: the worker lowers its own once its lease keeper runs (`main`). That costs its imports
    # (about a second of CPU, once per start) the low priority they used to have.
    return [subprocess.Popen(command) for _ in range(count)]


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
