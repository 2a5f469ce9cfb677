"""What a commit asks for, and how the Hub's NDJSON commit body describes it (hub-api §8.3)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from modelyard.domain import json_input
from modelyard.domain.errors import BadRequest


@dataclass(frozen=True)
class LfsAddition:
    path: str
    oid: str
    size: int | None  # absent for copies: looked up from the object


@dataclass
class CommitRequest:
    summary: str
    description: str = ""
    parent_commit: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # regular files: path -> content
    lfs_files: list[LfsAddition] = field(default_factory=list)
    deleted_files: list[str] = field(default_factory=list)
    deleted_folders: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        return f"{self.summary}\n\n{self.description}".strip() + "\n"


def parse_ndjson(body: bytes) -> CommitRequest:
    """Parse a commit body: a `header` line, then one line per operation."""
    lines = [line for line in body.splitlines() if line.strip()]
    if not lines:
        raise BadRequest("Empty commit body: expected NDJSON with a header line")
    operations = [_json_line(number, line) for number, line in enumerate(lines, start=1)]
    key, header = operations[0]
    if key != "header":
        raise BadRequest("The first line of a commit must be the header")
    request = CommitRequest(
        summary=_text(header, "summary", "header"),
        description=_optional_text(header, "description", "header") or "",
        parent_commit=_optional_text(header, "parentCommit", "header"),
    )
    named: set[str] = set()
    for key, value in operations[1:]:
        path = _apply(request, key, value)
        if path is None:
            continue
        if path in named:
            raise BadRequest(f"The commit names {path} more than once: one operation per file")
        named.add(path)
    return request


def _json_line(number: int, line: bytes) -> tuple[str, dict[str, Any]]:
    item = json_input.loads(line, f"Line {number} of the commit body")
    if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not isinstance(item.get("value"), dict):
        raise BadRequest(f"Line {number} of the commit body must be an object with 'key' and 'value'")
    return item["key"], item["value"]


def _apply(request: CommitRequest, key: str, value: dict[str, Any]) -> str | None:
    """Add one operation to `request`; returns the file path it names (None for a folder deletion)."""
    if key == "file":
        path = _text(value, "path", key)
        if value.get("encoding", "base64") != "base64":
            raise BadRequest(f"file {path}: only base64 encoding is supported")
        try:
            request.files[path] = base64.b64decode(_text(value, "content", key, allow_empty=True), validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"file {path}: content is not valid base64") from None
        return path
    if key == "lfsFile":
        path = _text(value, "path", key)
        if value.get("algo", "sha256") != "sha256":
            raise BadRequest(f"lfsFile {path}: only the sha256 algorithm is supported")
        size = value.get("size")
        if size is not None and (not isinstance(size, int) or size < 0):
            raise BadRequest(f"lfsFile {path}: size must be a non-negative integer")
        request.lfs_files.append(LfsAddition(path, _text(value, "oid", key), size))
        return path
    if key == "deletedFile":
        path = _text(value, "path", key)
        request.deleted_files.append(path)
        return path
    if key == "deletedFolder":
        # Deleting a folder and adding files into it is allowed, as huggingface_hub allows it.
        request.deleted_folders.append(_text(value, "path", key))
        return None
    if key == "header":
        raise BadRequest("A commit body has exactly one header, on its first line")
    raise BadRequest(f"Unsupported commit operation {key!r}: expected file, lfsFile, deletedFile or deletedFolder")


def _text(value: dict[str, Any], name: str, key: str, allow_empty: bool = False) -> str:
    text = value.get(name)
    if not isinstance(text, str) or (not text and not allow_empty):
        raise BadRequest(f"{key}: '{name}' must be a non-empty string")
    return text


def _optional_text(value: dict[str, Any], name: str, key: str) -> str | None:
    text = value.get(name)
    if text is None:
        return None
    if not isinstance(text, str):
        raise BadRequest(f"{key}: '{name}' must be a string")
    return text
