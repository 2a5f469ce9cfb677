"""The popularity columns of repos (downloads in 30 days, likes, trendingScore), recomputed from their events.

Every writer (a flush of download counts, a like, an unlike, the daily refresh) first writes its events, then
locks the repos rows it changes, in id order, and only then recomputes them from the events tables: a lock taken
after the other writers of the same rows committed, so each new statement sees their events too, and the last
writer of a row always writes the right numbers (PostgreSQL's READ COMMITTED; SQLite has one writer at a time).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from modelyard.db.models import DownloadDay, Like, Repo
from modelyard.domain.popularity import downloads_window_start, trending_score, trending_window_start

BATCH = 500


def lock_existing(session: Session, repo_ids: Iterable[int]) -> list[int]:
    """Lock the rows of these repos, in id order; the ids of those that still exist."""
    ids = sorted(set(repo_ids))
    found: list[int] = []
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        found.extend(session.scalars(select(Repo.id).where(Repo.id.in_(batch)).order_by(Repo.id).with_for_update()))
    return found


def refresh(session: Session, repo_ids: list[int], today: date) -> None:
    """Recompute the popularity columns of `repo_ids`, whose rows the caller has locked (lock_existing)."""
    for start in range(0, len(repo_ids), BATCH):
        _refresh_batch(session, repo_ids[start : start + BATCH], today)


def _refresh_batch(session: Session, ids: list[int], today: date) -> None:
    recent = downloads_window_start(today)
    trending_start = trending_window_start(today)
    downloads: dict[int, dict[date, int]] = defaultdict(dict)
    for repo_id, day, count in session.execute(
        select(DownloadDay.repo_id, DownloadDay.day, DownloadDay.count).where(
            DownloadDay.repo_id.in_(ids), DownloadDay.day >= recent
        )
    ):
        downloads[repo_id][day] = count
    likes: dict[int, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    since = datetime.combine(trending_start, time(), UTC)
    for repo_id, created_at in session.execute(
        select(Like.repo_id, Like.created_at).where(Like.repo_id.in_(ids), Like.created_at >= since)
    ):
        likes[repo_id][_utc(created_at).date()] += 1
    like_counts = dict(
        session.execute(select(Like.repo_id, func.count()).where(Like.repo_id.in_(ids)).group_by(Like.repo_id)).all()
    )
    for repo_id in ids:
        days = downloads.get(repo_id, {})
        session.execute(
            update(Repo)
            .where(Repo.id == repo_id)
            .values(
                downloads=sum(days.values()),
                likes=like_counts.get(repo_id, 0),
                trending_score=trending_score(today, likes.get(repo_id, {}), days),
            )
        )


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored as UTC).
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def decaying_repo_ids(session: Session) -> list[int]:
    """The repos whose numbers change with the date alone: those with downloads in the window or a trending score."""
    return list(session.scalars(select(Repo.id).where(or_(Repo.downloads > 0, Repo.trending_score > 0))))
