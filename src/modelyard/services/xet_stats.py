"""Storage accounting: logical bytes (what users uploaded) against stored bytes (what the disk holds).

Definitions (docs/architecture.md, "Xet storage"):
- logical bytes: the sizes of the large files (LFS or Xet objects) uploaded to a repository, each distinct
  object counted once per repository; for the hub, the sum over repositories;
- stored bytes: for the hub, every stored xorb (compressed chunk records) plus every LFS blob on disk;
  for a repository, the byte ranges of stored xorbs its files reference (a range shared by two of its
  files counts once; a range shared with another repository counts in both) plus its LFS blobs;
- dedup ratio: logical / stored (compression counts as a gain too).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from modelyard.db.models import LfsObject, Repo, XetFile, XetShard, XetXorb
from modelyard.services import jobs, xet
from modelyard.services.hub import Hub


@dataclass(frozen=True)
class StorageStats:
    logical_bytes: int
    stored_bytes: int
    xet_bytes: int  # of stored_bytes: xorb bytes
    lfs_bytes: int  # of stored_bytes: LFS blob bytes
    objects: int  # large objects (distinct sha256 per repository)
    xet_objects: int  # of which have a Xet reconstruction
    extra: dict[str, Any]

    @property
    def dedup_ratio(self) -> float | None:
        return round(self.logical_bytes / self.stored_bytes, 4) if self.stored_bytes else None

    def to_json(self) -> dict[str, Any]:
        return {
            "logicalBytes": self.logical_bytes,
            "storedBytes": self.stored_bytes,
            "dedupRatio": self.dedup_ratio,
            "xetStoredBytes": self.xet_bytes,
            "lfsStoredBytes": self.lfs_bytes,
            "objects": self.objects,
            "xetObjects": self.xet_objects,
            **self.extra,
        }


def _union_length(intervals: list[tuple[int, int]]) -> int:
    total = 0
    current_start = current_end = None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                total += current_end - current_start  # type: ignore[operator]
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += current_end - current_start  # type: ignore[operator]
    return total


def repo_storage(hub: Hub, repo_pk: int) -> StorageStats:
    with hub.db.session() as session:
        objects = dict(session.execute(select(LfsObject.oid, LfsObject.size).where(LfsObject.repo_id == repo_pk)).all())
    files = xet.repo_files(hub, repo_pk, objects)
    ranges: dict[bytes, list[tuple[int, int]]] = defaultdict(list)
    with hub.db.session() as session:
        hashes = sorted({ref.hash for ref in files.values()})
        for i in range(0, len(hashes), 500):
            for (packed,) in session.execute(select(XetFile.terms).where(XetFile.hash.in_(hashes[i : i + 500]))):
                for stored in xet.unpack_terms(bytes(packed)):
                    ranges[stored.term.xorb_hash.raw].append((stored.record_start, stored.record_end))
    xet_bytes = sum(_union_length(intervals) for intervals in ranges.values())
    lfs_bytes = sum(size for oid in objects if (size := hub.blobs.size(oid)) is not None)
    return StorageStats(
        logical_bytes=sum(objects.values()),
        stored_bytes=xet_bytes + lfs_bytes,
        xet_bytes=xet_bytes,
        lfs_bytes=lfs_bytes,
        objects=len(objects),
        xet_objects=len(files),
        extra={"xorbsReferenced": len(ranges)},
    )


def total_storage(hub: Hub) -> StorageStats:
    with hub.db.session() as session:
        logical, links = session.execute(select(func.coalesce(func.sum(LfsObject.size), 0), func.count())).one()
        xorb_bytes, xorb_count = session.execute(
            select(func.coalesce(func.sum(XetXorb.size), 0), func.count()).select_from(XetXorb)
        ).one()
        file_count = session.scalar(select(func.count()).select_from(XetFile)) or 0
        shard_bytes = session.scalar(select(func.coalesce(func.sum(XetShard.size), 0))) or 0
        oids = list(session.scalars(select(LfsObject.oid).distinct()))
        verified = set(session.scalars(select(XetFile.verified_sha256).where(XetFile.verified_sha256.is_not(None))))
        repos = session.scalar(select(func.count(func.distinct(LfsObject.repo_id)))) or 0
    blob_sizes = {oid: size for oid in oids if (size := hub.blobs.size(oid)) is not None}
    lfs_bytes = sum(blob_sizes.values())
    reclaimable = sum(size for oid, size in blob_sizes.items() if oid in verified)
    return StorageStats(
        logical_bytes=int(logical),
        stored_bytes=int(xorb_bytes) + lfs_bytes,
        xet_bytes=int(xorb_bytes),
        lfs_bytes=lfs_bytes,
        objects=int(links),
        xet_objects=int(file_count),
        extra={
            "repositories": int(repos),
            "xorbs": int(xorb_count),
            "lfsBlobs": len(blob_sizes),
            "shardBytesReceived": int(shard_bytes),
            # LFS blobs that also exist as a verified Xet copy (converted on upload): an eviction would free them.
            "lfsBytesWithXetCopy": reclaimable,
        },
    )


def report(hub: Hub) -> dict[str, Any]:
    """The hub's totals, every repository holding large files, and the background jobs (`modelyard admin stats`)."""
    with hub.db.session() as session:
        repos = session.execute(
            select(Repo.id, Repo.type, Repo.namespace, Repo.name)
            .where(Repo.id.in_(select(LfsObject.repo_id).distinct()))
            .order_by(Repo.type, Repo.namespace, Repo.name)
        ).all()
    return {
        "total": total_storage(hub).to_json(),
        "repositories": [
            {"type": kind, "id": f"{namespace}/{name}", **repo_storage(hub, pk).to_json()}
            for pk, kind, namespace, name in repos
        ],
        "backgroundJobs": jobs.summary(hub),
    }


def _size(value: int) -> str:
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if amount < 1000 or unit == "TB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.2f} {unit}"
        amount /= 1000
    return f"{value} B"  # pragma: no cover


def _line(label: str, stats: dict[str, Any]) -> str:
    ratio = stats["dedupRatio"]
    return (
        f"{label}: logical {_size(stats['logicalBytes'])}, stored {_size(stats['storedBytes'])} "
        f"(xet {_size(stats['xetStoredBytes'])}, lfs {_size(stats['lfsStoredBytes'])}), "
        f"dedup ratio {'-' if ratio is None else f'{ratio:.2f}'}"
    )


def format_report(data: dict[str, Any]) -> str:
    lines = [_line("total", data["total"])]
    lines += [_line(f"{repo['type']} {repo['id']}", repo) for repo in data["repositories"]]
    background = data["backgroundJobs"]
    counts = ", ".join(f"{background[state]} {state}" for state in (jobs.QUEUED, jobs.RUNNING, jobs.FAILED))
    lines.append(f"background jobs: {counts}")
    for job in background["failedJobs"]:
        repo = "" if job["repo"] is None else f" ({job['repo']['type']} {job['repo']['id']})"
        lines.append(
            f"  failed {job['kind']} {job['subject']}{repo}: {job['attempts']} attempts, next try {job['nextTry']}: "
            f"{job['lastError']}"
        )
    return "\n".join(lines)
