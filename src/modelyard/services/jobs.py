"""The queue of background work, kept in the database so that any number of worker processes, on any host that
reaches the database, can share it (docs/architecture.md, "Background work").

A job is one row, unique by (kind, subject): queued → running (claimed by one worker under a lease) → deleted when
done, or failed with its error and a time for the next try. A worker's heartbeats extend its lease; when a lease
runs out (the worker died or hung), the job counts as failed and goes back to the queue after the same backoff as
any failure. Every state change is one conditional UPDATE, a compare-and-swap that works alike on SQLite and
PostgreSQL: two workers can never both claim a job.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.db.models import BackgroundJob, Repo
from modelyard.domain.dates import iso_z, utcnow
from modelyard.services.hub import Hub

QUEUED, RUNNING, FAILED = "queued", "running", "failed"
LEASE = datetime.timedelta(seconds=60)
HEARTBEAT_SECONDS = 15  # a lease outlives three missed heartbeats
MAX_RETRY_DELAY = datetime.timedelta(hours=6)
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    subject: str
    repo_pk: int | None
    attempts: int  # this one included


def enqueue(hub: Hub, kind: str, subject: str, repo_pk: int | None = None) -> bool:
    """Queue (kind, subject) unless it is queued, running or failed already; True when a job was added."""
    now = utcnow()
    try:
        with hub.db.session() as session:
            exists = session.scalar(
                select(BackgroundJob.id).where(BackgroundJob.kind == kind, BackgroundJob.subject == subject)
            )
            if exists is not None:
                return False
            session.add(
                BackgroundJob(
                    kind=kind, subject=subject, repo_id=repo_pk, state=QUEUED, attempts=0,
                    run_after=now, created_at=now, updated_at=now,
                )
            )  # fmt: skip
    except IntegrityError:
        return False  # queued by another process meanwhile, or its repository was deleted meanwhile
    return True


def claim(hub: Hub, owner: str, kinds: tuple[str, ...]) -> Job | None:
    """The next due job of one of `kinds`, now leased to `owner`; None when nothing is due."""
    now = utcnow()
    _expire_leases(hub, now)
    due = and_(BackgroundJob.kind.in_(kinds), BackgroundJob.state != RUNNING, BackgroundJob.run_after <= now)
    while True:
        with hub.db.session() as session:
            row = session.execute(
                select(BackgroundJob.id, BackgroundJob.kind, BackgroundJob.subject, BackgroundJob.repo_id,
                       BackgroundJob.attempts)
                .where(due).order_by(BackgroundJob.run_after, BackgroundJob.id).limit(1)
            ).first()  # fmt: skip
            if row is None:
                return None
            taken = session.execute(
                update(BackgroundJob)
                .where(BackgroundJob.id == row.id, due)
                .values(state=RUNNING, lease_owner=owner, lease_expires=now + LEASE, attempts=row.attempts + 1,
                        updated_at=now)
            ).rowcount  # fmt: skip
        if taken == 1:
            return Job(row.id, row.kind, row.subject, row.repo_id, row.attempts + 1)
        # another worker took it between our SELECT and UPDATE: look again


def heartbeat(hub: Hub, job: Job, owner: str) -> bool:
    """Extend the lease; False when the job is no longer ours (its repository was deleted, or the lease ran out)."""
    now = utcnow()
    with hub.db.session() as session:
        return (
            session.execute(
                update(BackgroundJob)
                .where(BackgroundJob.id == job.id, BackgroundJob.lease_owner == owner)
                .values(lease_expires=now + LEASE, updated_at=now)
            ).rowcount
            == 1
        )


def finish(hub: Hub, job: Job, owner: str) -> None:
    """Done (or nothing left to do): the job is removed."""
    with hub.db.session() as session:
        session.execute(delete(BackgroundJob).where(BackgroundJob.id == job.id, BackgroundJob.lease_owner == owner))


def release(hub: Hub, job: Job, owner: str) -> None:
    """Give the job back untried (its worker is stopping): due again at once, this attempt not counted."""
    now = utcnow()
    with hub.db.session() as session:
        session.execute(
            update(BackgroundJob)
            .where(BackgroundJob.id == job.id, BackgroundJob.lease_owner == owner)
            .values(state=QUEUED, attempts=job.attempts - 1, run_after=now, lease_owner=None, lease_expires=None,
                    updated_at=now)
        )  # fmt: skip


def fail(hub: Hub, job: Job, owner: str, error: str) -> datetime.timedelta:
    """Record the failure; the job is tried again after the returned delay."""
    delay = retry_delay(hub, job.attempts)
    now = utcnow()
    with hub.db.session() as session:
        session.execute(
            update(BackgroundJob)
            .where(BackgroundJob.id == job.id, BackgroundJob.lease_owner == owner)
            .values(state=FAILED, last_error=error[:MAX_ERROR_CHARS], run_after=now + delay, lease_owner=None,
                    lease_expires=None, updated_at=now)
        )  # fmt: skip
    return delay


def retry_delay(hub: Hub, attempts: int) -> datetime.timedelta:
    """Exponential backoff: the configured first delay, doubled after each failed attempt, at most 6 hours."""
    first = hub.settings.background_retry_seconds
    return min(datetime.timedelta(seconds=first * 2 ** min(attempts - 1, 30)), MAX_RETRY_DELAY)


def _expire_leases(hub: Hub, now: datetime.datetime) -> None:
    """Jobs whose worker stopped renewing its lease (it died or hung) fail, and so go back to the queue."""
    expired = and_(BackgroundJob.state == RUNNING, BackgroundJob.lease_expires < now)
    with hub.db.session() as session:
        stale = session.execute(
            select(BackgroundJob.id, BackgroundJob.attempts, BackgroundJob.lease_owner).where(expired)
        ).all()
        for job_id, attempts, owner in stale:
            session.execute(
                update(BackgroundJob)
                .where(BackgroundJob.id == job_id, expired)
                .values(state=FAILED, last_error=f"the worker running it ({owner}) stopped before finishing",
                        run_after=now + retry_delay(hub, attempts), lease_owner=None, lease_expires=None,
                        updated_at=now)
            )  # fmt: skip


def summary(hub: Hub) -> dict[str, Any]:
    """Counts by state, and every failed job with its error (what `modelyard admin stats` shows)."""
    with hub.db.session() as session:
        counts = dict(session.execute(select(BackgroundJob.state, func.count()).group_by(BackgroundJob.state)).all())
        failed = session.execute(
            select(BackgroundJob, Repo.type, Repo.namespace, Repo.name)
            .outerjoin(Repo, Repo.id == BackgroundJob.repo_id)
            .where(BackgroundJob.state == FAILED)
            .order_by(BackgroundJob.run_after, BackgroundJob.id)
        ).all()
    return {
        "queued": counts.get(QUEUED, 0),
        "running": counts.get(RUNNING, 0),
        "failed": counts.get(FAILED, 0),
        "failedJobs": [
            {
                "kind": job.kind,
                "subject": job.subject,
                "repo": None if name is None else {"type": repo_type, "id": f"{namespace}/{name}"},
                "attempts": job.attempts,
                "lastError": job.last_error,
                "nextTry": iso_z(job.run_after),
            }
            for job, repo_type, namespace, name in failed
        ],
    }
