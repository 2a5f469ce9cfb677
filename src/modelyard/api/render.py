"""JSON shapes of the Hub API, built from service results."""

from __future__ import annotations

import html
from typing import Any

from modelyard.domain.cards import tags_from_card
from modelyard.domain.dates import iso_z
from modelyard.domain.repo_ids import RepoType
from modelyard.gitstore.repository import CommitInfo, Entry
from modelyard.services.files import Snapshot
from modelyard.services.lfs_files import LfsFile
from modelyard.services.repos import RepoRecord


def entry_json(entry: Entry, last_commit: CommitInfo | None = None) -> dict[str, Any]:
    if entry.type == "directory":
        data: dict[str, Any] = {"type": "directory", "oid": entry.oid, "size": 0, "path": entry.path}
    else:
        data = {"type": "file", "oid": entry.oid, "size": entry.size, "path": entry.path}
        if entry.lfs is not None:
            data["lfs"] = {"oid": entry.lfs.oid, "size": entry.lfs.size, "pointerSize": entry.pointer_size}
    if last_commit is not None:
        data["lastCommit"] = {"id": last_commit.id, "title": last_commit.title, "date": iso_z(last_commit.date)}
    return data


def commit_json(commit: CommitInfo, author: str, formatted: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": commit.id,
        "authors": [{"user": author}],
        "date": iso_z(commit.date),
        "title": commit.title,
        "message": commit.message,
    }
    if formatted:
        data["formatted"] = {"title": html.escape(commit.title), "message": html.escape(commit.message)}
    return data


def sibling_json(entry: Entry, with_blobs: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"rfilename": entry.path}
    if with_blobs:
        data["size"] = entry.size
        data["blobId"] = entry.oid
        if entry.lfs is not None:
            data["lfs"] = {"size": entry.lfs.size, "sha256": entry.lfs.oid, "pointerSize": entry.pointer_size}
    return data


def repo_summary_json(record: RepoRecord) -> dict[str, Any]:
    """What every listing shows of a repo without opening git."""
    return {
        "_id": str(record.pk),
        "id": record.ref.id,
        "author": record.ref.namespace,
        "private": record.private,
        "gated": record.gated or False,
        "disabled": False,
        "downloads": record.downloads,
        "downloadsAllTime": record.downloads_all_time,
        "likes": record.likes,
        "trendingScore": round(record.trending_score),
        "createdAt": iso_z(record.created_at),
        "lastModified": iso_z(record.last_modified),
    }


def repo_info_json(snap: Snapshot, with_blobs: bool) -> dict[str, Any]:
    record = snap.record
    card = snap.card()
    head = snap.last_commit()
    files = snap.git.files(snap.commit)
    data = repo_summary_json(record)
    data.update(
        {
            "sha": snap.commit,
            "lastModified": iso_z(head.date),
            "tags": tags_from_card(card),
            "siblings": [sibling_json(entry, with_blobs) for entry in files],
            "usedStorage": sum(entry.size for entry in files),
        }
    )
    if card:
        data["cardData"] = card
    if record.ref.type is RepoType.MODEL:
        for key in ("library_name", "pipeline_tag"):
            if isinstance(card.get(key), str):
                data[key] = card[key]
    if record.ref.type is RepoType.SPACE:
        data["sdk"] = card.get("sdk")
    return data


def only_expanded(data: dict[str, Any], expand: list[str]) -> dict[str, Any]:
    """With `expand=…`, the Hub returns just those properties (and `id`, which the client requires)."""
    if not expand:
        return data
    return {key: value for key, value in data.items() if key in expand or key in ("id", "_id")}


def lfs_file_json(item: LfsFile) -> dict[str, Any]:
    data: dict[str, Any] = {
        "fileOid": item.sha256,
        "oid": item.pointer_oid or item.sha256,
        "filename": item.path or item.sha256,
        "pushedAt": iso_z(item.pushed_at),
        "size": item.size,
    }
    if item.ref is not None:
        data["ref"] = item.ref
    return data


def owned_repo_json(owned: list[tuple[RepoRecord, int]], total: int) -> list[dict[str, Any]]:
    return [
        {
            "id": record.ref.id,
            "type": record.ref.type.value,
            "updatedAt": iso_z(record.last_modified),
            "visibility": "private" if record.private else "public",
            "storage": size,
            "storagePercent": round(100 * size / total, 2) if total else 0,
        }
        for record, size in owned
    ]
