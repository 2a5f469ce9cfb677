"""JSON shapes of the Hub API, built from service results."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from modelyard.domain.card_text import citation, description
from modelyard.domain.dates import iso_z
from modelyard.domain.repo_fields import FieldRequest
from modelyard.domain.transformers_info import mask_token, transformers_info
from modelyard.gitstore.repository import CommitInfo, Entry
from modelyard.services.lfs_files import LfsFile
from modelyard.services.repo_facts import Item
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


def info_json(item: Item, fields: FieldRequest) -> dict[str, Any]:
    """`model_info`, `dataset_info`, `space_info`: the properties `fields` names (docs/repo-fields.md)."""
    return _item_json(item, fields, listing=False)


def listing_json(items: Sequence[Item], fields: FieldRequest) -> list[dict[str, Any]]:
    """A page of `list_models`/`list_datasets`/`list_spaces` (items from `repo_facts.page`)."""
    return [_item_json(item, fields, listing=True) for item in items]


def _item_json(item: Item, fields: FieldRequest, listing: bool) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in sorted(fields.fields):
        value = _FIELDS[name](item)
        if name == "inferenceProviderMapping" and listing:
            value = []  # a list in listings, a mapping by provider in info (huggingface_hub reads both)
        if value is not _ABSENT:
            data[name] = value
    return data


# `securityStatus=true`: Modelyard scans no files (no malware or pickle scans), and says so.
NO_SCANS: dict[str, Any] = {"scansDone": False, "filesWithIssues": []}
_ABSENT = object()  # a property Modelyard has nothing for: left out, which the client reads as None


def _present(value: Any) -> Any:
    return value if value not in (None, "", {}) else _ABSENT


def _card(key: str) -> Callable[[Item], Any]:
    return lambda item: _present(item.facts.card.get(key))


def _base_models(item: Item) -> Any:
    """The Hub's shape: one relation for the model (a merge when it has several parents) and its bases."""
    bases = item.facts.base_models
    if not bases:
        return _ABSENT
    relation = bases[0].relation if len({base.relation for base in bases}) == 1 else "merge"
    models = [{"id": base.id, **({"_id": str(base.pk)} if base.pk is not None else {})} for base in bases]
    return {"relation": relation, "models": models}


def _listed(key: str) -> Callable[[Item], Any]:
    """A card's list of repository ids (a Space's `models` and `datasets`), as a list even when one is named."""

    def value(item: Item) -> Any:
        listed = item.facts.card.get(key)
        values = listed if isinstance(listed, list) else [listed]
        return [value for value in values if isinstance(value, str)]

    return value


def _siblings(item: Item) -> Any:
    if item.files is None:
        return _ABSENT
    return [sibling_json(entry, item.with_blobs) for entry in item.files]


def _size(item: Item) -> Any:
    return _ABSENT if item.files is None else sum(entry.size for entry in item.files)


_FIELDS: dict[str, Callable[[Item], Any]] = {
    "_id": lambda item: str(item.record.pk),
    "id": lambda item: item.record.ref.id,
    "author": lambda item: item.record.ref.namespace,
    "private": lambda item: item.record.private,
    "gated": lambda item: item.record.gated or False,
    "disabled": lambda item: False,
    "downloads": lambda item: item.record.downloads,
    "downloadsAllTime": lambda item: item.record.downloads_all_time,
    "likes": lambda item: item.record.likes,
    "trendingScore": lambda item: round(item.record.trending_score),
    "createdAt": lambda item: iso_z(item.record.created_at),
    "lastModified": lambda item: iso_z(item.last_modified),
    "sha": lambda item: _present(item.sha),
    "tags": lambda item: item.facts.tags,
    "cardData": lambda item: _present(item.facts.card),
    "siblings": _siblings,
    "usedStorage": _size,
    "resourceGroup": lambda item: _ABSENT,  # no resource groups here
    # models
    "pipeline_tag": lambda item: _present(item.facts.pipeline_tag),
    "library_name": lambda item: _present(item.facts.library_name),
    "config": lambda item: _present(item.facts.config),
    "safetensors": lambda item: _present(item.facts.safetensors),
    "gguf": lambda item: _present(item.facts.gguf),
    "transformersInfo": lambda item: _present(
        transformers_info(item.facts.config, item.facts.pipeline_tag, item.facts.library_name)
    ),
    "mask_token": lambda item: _present(mask_token(item.facts.config)),
    "model-index": _card("model-index"),
    "widgetData": _card("widget"),
    "spaces": lambda item: item.facts.spaces,
    "baseModels": _base_models,
    "childrenModelCount": lambda item: item.facts.children,
    "evalResults": lambda item: [],  # `.eval_results/` files are not read
    "inferenceProviderMapping": lambda item: {},  # no inference providers
    "inference": lambda item: _ABSENT,  # not served: neither warm nor cold
    # datasets
    "citation": lambda item: _present(citation(item.facts.card_text)),
    "description": lambda item: description(item.facts.card_text),
    "paperswithcode_id": _card("paperswithcode_id"),
    "mainSize": lambda item: _present(item.main_size),
    # Spaces (never run here: no runtime, host, subdomain or region)
    "sdk": _card("sdk"),
    "models": _listed("models"),
    "datasets": _listed("datasets"),
    "runtime": lambda item: _ABSENT,
    "region": lambda item: _ABSENT,
    "subdomain": lambda item: _ABSENT,
}


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
