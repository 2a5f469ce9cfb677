"""Downloads counted in memory, per serving process, until the next flush writes them (services/download_counts.py).

One download is one count, whatever the requests it takes (docs/popularity.md):
- a model's query file: huggingface_hub (and transformers and the hf CLI, which download through it) asks for a
  file's metadata (HEAD) before its content (GET), and only the HEAD when its cached copy is current: its HEAD is
  the download, its GET never counts. A stateless rule, exact whichever server process each request reaches.
  Other clients (curl, browsers) fetch content without asking first: each of their GETs and HEADs counts;
- a dataset's files (any request, any client) taken by one visitor within DATASET_VISIT_SECONDS of the first are
  one download of it;
- a GET whose Range starts past the first byte continues a download (a resume, a random read): it never counts.
A visitor is the client address, and the user when the request is authenticated (one address may be a whole
office behind NAT). Pure: the caller passes the time; a lock makes it safe for the server's threads.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from modelyard.domain.repo_ids import RepoType

DATASET_VISIT_SECONDS = 300.0


@dataclass(frozen=True)
class FileRequest:
    """A request for a file that counts (domain/download_counting.py) and that the caller may read."""

    repo_pk: int
    repo_type: RepoType
    path: str
    visitor: str
    method: str  # "GET" or "HEAD"
    metadata_first: bool = False  # the client always sends a HEAD before a GET (huggingface_hub)
    continuation: bool = False  # a Range that does not start at the first byte


def asks_metadata_first(user_agent: str) -> bool:
    """huggingface_hub puts `hf_hub/<version>` in every request's User-Agent, after the name of the library that
    uses it (`transformers/5.0; hf_hub/2.4.0; python/3.12`, or `unknown/None; hf_hub/…` when called directly)."""
    return any(part.strip().lower().startswith("hf_hub/") for part in user_agent.split(";"))


DayCounts = dict[tuple[int, date], int]  # (repo id, UTC day) -> downloads


def utc_day(now: float) -> date:
    return datetime.fromtimestamp(now, UTC).date()


class DownloadTally:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: DayCounts = {}
        self._visits: dict[tuple[int, str], float] = {}  # dataset visits, by their first request's time

    def record(self, request: FileRequest, now: float) -> bool:
        """Count `request` if it starts a download; True when it did."""
        if request.continuation:
            return False
        with self._lock:
            if not self._starts_download(request, now):
                return False
            key = (request.repo_pk, utc_day(now))
            self._counts[key] = self._counts.get(key, 0) + 1
            return True

    def _starts_download(self, request: FileRequest, now: float) -> bool:
        if request.repo_type is RepoType.DATASET:
            visit = (request.repo_pk, request.visitor)
            started = self._visits.get(visit)
            if started is not None and now - started < DATASET_VISIT_SECONDS:
                return False
            self._visits[visit] = now
            return True
        return not (request.metadata_first and request.method == "GET")

    def drain(self, now: float) -> DayCounts:
        """The counts so far, which the tally forgets (give them back with `restore` if they cannot be written);
        also forgets the visits too old to matter, so that memory follows recent traffic only."""
        with self._lock:
            counts, self._counts = self._counts, {}
            self._visits = {key: at for key, at in self._visits.items() if now - at < DATASET_VISIT_SECONDS}
            return counts

    def restore(self, counts: Mapping[tuple[int, date], int]) -> None:
        with self._lock:
            for key, count in counts.items():
                self._counts[key] = self._counts.get(key, 0) + count

    def pending(self) -> int:
        with self._lock:
            return sum(self._counts.values())
