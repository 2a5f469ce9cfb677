"""Likes: a user's like of a repository they can see, who liked a repository, and what a user liked.

A like and its repository's `likes` and `trendingScore` change in one transaction (services/popularity.py).
Liking twice, or unliking what one never liked, changes nothing and is no error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from modelyard.db.models import Like, Repo, User
from modelyard.db.upsert import dialect_insert
from modelyard.domain.dates import utcnow
from modelyard.domain.errors import RepoNotFound
from modelyard.services import popularity
from modelyard.services.access import can_see
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor, user_named


@dataclass(frozen=True)
class Liker:
    name: str
    fullname: str


@dataclass(frozen=True)
class LikedRepo:
    record: RepoRecord
    liked_at: datetime


def like(hub: Hub, actor: Actor, record: RepoRecord) -> None:
    """`actor` likes `record`, which the caller checked it may see."""
    now = utcnow()
    with hub.db.session() as session:
        if not popularity.lock_existing(session, [record.pk]):
            raise RepoNotFound()  # deleted since the route found it
        row = {"user_id": actor.user_id, "repo_id": record.pk, "created_at": now}
        session.execute(dialect_insert(session, Like).values(row).on_conflict_do_nothing())
        popularity.refresh(session, [record.pk], now.date())


def unlike(hub: Hub, actor: Actor, record: RepoRecord) -> None:
    now = utcnow()
    with hub.db.session() as session:
        if not popularity.lock_existing(session, [record.pk]):
            raise RepoNotFound()
        session.execute(delete(Like).where(Like.user_id == actor.user_id, Like.repo_id == record.pk))
        popularity.refresh(session, [record.pk], now.date())


def likers(hub: Hub, record: RepoRecord) -> list[Liker]:
    """Who liked `record`, most recent first."""
    with hub.db.session() as session:
        rows = session.execute(
            select(User.name, User.fullname)
            .join(Like, Like.user_id == User.id)
            .where(Like.repo_id == record.pk)
            .order_by(Like.created_at.desc(), User.id)
        ).all()
    return [Liker(name, fullname) for name, fullname in rows]


def user_likes(hub: Hub, actor: Actor | None, user: str) -> list[LikedRepo]:
    """What `user` liked, most recent first, among the repositories `actor` can see: a private repository someone
    else liked is not there at all (NotFound for a user who does not exist)."""
    with hub.db.session() as session:
        liker = user_named(session, user)
        rows = session.execute(
            select(Repo, Like.created_at)
            .join(Like, Like.repo_id == Repo.id)
            .where(Like.user_id == liker.id)
            .order_by(Like.created_at.desc(), Repo.id)
        ).all()
        liked = [LikedRepo(RepoRecord.of(repo), liked_at) for repo, liked_at in rows]
    return [item for item in liked if can_see(actor, item.record.target)]
