"""Preupload: tell the client, per file, whether it travels inline ("regular") or through LFS, and
whether `.gitignore` excludes it (hub-api §8.2)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import pathspec

from modelyard.domain.errors import BadRequest
from modelyard.domain.paths import validate_repo_path
from modelyard.services.files import Snapshot

# The Hub's rule: over 10 MB, or tracked by .gitattributes, or binary-looking content goes to LFS.
LFS_SIZE_THRESHOLD = 10 * 1000 * 1000


@dataclass(frozen=True)
class PlannedFile:
    path: str
    upload_mode: str  # "lfs" or "regular"
    should_ignore: bool
    oid: str | None  # the current remote oid: sha256 for LFS files, git blob id otherwise


def plan(snap: Snapshot, files: list[dict[str, object]], git_ignore: str | None) -> list[PlannedFile]:
    ignore = _ignore_spec(snap, git_ignore)
    planned = []
    for item in files:
        path, size, sample = _parse(item)
        validate_repo_path(path)
        lfs = size > LFS_SIZE_THRESHOLD or _looks_binary(sample) or snap.git.is_lfs_tracked(snap.commit, path)
        current = snap.git.entry(snap.commit, path)
        oid = None
        if current is not None and current.type == "file":
            oid = current.lfs.oid if current.lfs is not None else current.oid
        planned.append(PlannedFile(path, "lfs" if lfs else "regular", bool(ignore and ignore.match_file(path)), oid))
    return planned


def _parse(item: object) -> tuple[str, int, bytes]:
    if not isinstance(item, dict) or not isinstance(item.get("path"), str):
        raise BadRequest("Each preupload file needs a string 'path'")
    size = item.get("size", 0)
    if not isinstance(size, int) or size < 0:
        raise BadRequest(f"{item['path']}: 'size' must be a non-negative integer")
    try:
        sample = base64.b64decode(str(item.get("sample", "")), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{item['path']}: 'sample' must be base64") from None
    return item["path"], size, sample


def _looks_binary(sample: bytes) -> bool:
    if b"\x00" in sample:
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the end of the sample is still text.
        return error.start < len(sample) - 3
    return False


def _ignore_spec(snap: Snapshot, git_ignore: str | None) -> pathspec.PathSpec | None:
    """The client's `gitIgnore` if it sent one, else the repository's `.gitignore`."""
    if git_ignore is None:
        entry = snap.git.entry(snap.commit, ".gitignore")
        if entry is None or entry.type != "file" or entry.lfs is not None:
            return None
        git_ignore = snap.git.read_blob(entry.oid).decode("utf-8", errors="replace")
    lines = git_ignore.splitlines()
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except ValueError:  # a lone "!", a trailing "\"...: like git, skip the patterns it cannot read
        return pathspec.GitIgnoreSpec.from_lines([line for line in lines if _valid_pattern(line)])


def _valid_pattern(line: str) -> bool:
    try:
        pathspec.GitIgnoreSpec.from_lines([line])
    except ValueError:
        return False
    return True
