"""Download counting: decided on the download path in memory, written to the database in batches.

The download path (resolve, after the caller's access was checked and the file found) calls `count`, which touches
only this process's DownloadTally. `flush`, run every `download_flush_seconds` by the serving process and once at
shutdown (background/download_flusher.py), adds the tally to `download_days` (an additive upsert, so that every
process adds its own counts), adds it to `repos.downloads_all_time`, and recomputes `downloads` (30 days) and
`trendingScore` in the same transaction. The first flush of each UTC day also refreshes every repository whose
numbers decay with the date alone. See docs/popularity.md.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import date

from sqlalchemy import update

from modelyard.db.models import DownloadDay, Repo
from modelyard.db.upsert import dialect_insert
from modelyard.domain import download_counting
from modelyard.domain.download_tally import DayCounts, DownloadTally, FileRequest, asks_metadata_first, utc_day
from modelyard.domain.repo_ids import RepoType
from modelyard.services import popularity
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor

LIBRARY_CACHE_SIZE = 4096
UPSERT_BATCH = 300  # rows per INSERT: SQLite takes at most 32766 bound values in one statement


class Counter:
    """This process's counts, the library of each model commit seen (its card's `library_name`), and the day of the
    last daily refresh."""

    def __init__(self) -> None:
        self.tally = DownloadTally()
        self._libraries: OrderedDict[tuple[int, str], str] = OrderedDict()
        self._libraries_lock = threading.Lock()
        self.refreshed_day: date | None = None
        self.flush_lock = threading.Lock()  # one flush at a time in this process

    def library(self, repo_pk: int, commit: str, read: Callable[[], str]) -> str:
        key = (repo_pk, commit)
        with self._libraries_lock:
            if key in self._libraries:
                self._libraries.move_to_end(key)
                return self._libraries[key]
        library = read()
        with self._libraries_lock:
            self._libraries[key] = library
            if len(self._libraries) > LIBRARY_CACHE_SIZE:
                self._libraries.popitem(last=False)
        return library


def counter(hub: Hub) -> Counter:
    return hub.component("download-counter", Counter)


def visitor(address: str, actor: Actor | None) -> str:
    return f"{address} {actor.user_id}" if actor is not None else address


def count(
    hub: Hub,
    record: RepoRecord,
    commit: str,
    path: str,
    card: Callable[[], dict[str, object]],
    method: str,
    who: str,
    user_agent: str,
    range_start: int | None,
) -> None:
    """Count a request for a file the caller may read, if it is a download of its repository.

    `card` reads the commit's card (only for the few paths that may count, once per commit); `range_start` is where
    the request's Range starts (None without one). Call from a worker thread: it may read git."""
    kind = record.ref.type
    if not download_counting.may_count(kind, path):
        return
    found = counter(hub)
    library = found.library(record.pk, commit, lambda: _library_name(card())) if kind is RepoType.MODEL else ""
    if not download_counting.counts(kind, library, path):
        return
    continuation = range_start is not None and range_start > 0
    request = FileRequest(record.pk, kind, path, who, method, asks_metadata_first(user_agent), continuation)
    found.tally.record(request, time.time())


def _library_name(card: dict[str, object]) -> str:
    library = card.get("library_name")
    return library if isinstance(library, str) else ""


def flush(hub: Hub) -> int:
    """Write this process's counts; returns how many downloads were written. Counts that cannot be written stay in
    the tally for the next flush."""
    found = counter(hub)
    with found.flush_lock:
        now = time.time()
        today = utc_day(now)
        counts = found.tally.drain(now)
        try:
            if counts:
                _write(hub, counts, today)
            if found.refreshed_day != today:
                _refresh_decaying(hub, today)
                found.refreshed_day = today
        except Exception:
            found.tally.restore(counts)
            raise
        return sum(counts.values())


def _write(hub: Hub, counts: DayCounts, today: date) -> None:
    with hub.db.session() as session:
        existing = set(popularity.lock_existing(session, (repo_id for repo_id, _ in counts)))
        rows = [
            {"repo_id": repo_id, "day": day, "count": n}
            for (repo_id, day), n in sorted(counts.items())
            if repo_id in existing  # a repository deleted since: its counts go with it
        ]
        if not rows:
            return
        for start in range(0, len(rows), UPSERT_BATCH):
            insert = dialect_insert(session, DownloadDay).values(rows[start : start + UPSERT_BATCH])
            session.execute(
                insert.on_conflict_do_update(
                    index_elements=["repo_id", "day"], set_={"count": DownloadDay.count + insert.excluded.count}
                )
            )
        totals: dict[int, int] = {}
        for row in rows:
            totals[row["repo_id"]] = totals.get(row["repo_id"], 0) + row["count"]
        for repo_id, added in totals.items():
            session.execute(
                update(Repo).where(Repo.id == repo_id).values(downloads_all_time=Repo.downloads_all_time + added)
            )
        popularity.refresh(session, sorted(totals), today)


def _refresh_decaying(hub: Hub, today: date) -> None:
    with hub.db.session() as session:
        ids = popularity.decaying_repo_ids(session)
    for start in range(0, len(ids), popularity.BATCH):
        with hub.db.session() as session:
            locked = popularity.lock_existing(session, ids[start : start + popularity.BATCH])
            popularity.refresh(session, locked, today)


def pending(hub: Hub) -> int:
    """Downloads counted in this process and not written yet."""
    return counter(hub).tally.pending()
