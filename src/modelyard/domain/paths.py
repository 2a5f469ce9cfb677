"""Paths of files inside a repository: relative, normalized, never escaping the root."""

from __future__ import annotations

import re

from modelyard.domain.errors import InvalidPath

MAX_PATH_LENGTH = 1024
# C0 control characters and DEL: they break HTTP headers (Content-Disposition), URLs and terminals.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The names git and libgit2 refuse for any path component (core.protectNTFS, on by default), whatever the
# case: `.git`, its NTFS short name `git~1`, either one followed by only dots and spaces (which Windows
# drops), and `.git` followed by an NTFS alternate data stream (`.git::$INDEX_ALLOCATION`).
_DOT_GIT = re.compile(r"(\.git|git~1)[. ]*|\.git:.*", re.IGNORECASE)


def validate_repo_path(path: str) -> str:
    """Return `path` if it is a clean relative file path inside a repo, else raise InvalidPath."""
    if not path:
        raise InvalidPath("Empty file path")
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidPath(f"File path longer than {MAX_PATH_LENGTH} characters")
    if path.startswith("/"):
        raise InvalidPath(f"Invalid path {path!r}: paths are relative to the repository root (no leading '/')")
    if "\\" in path:
        raise InvalidPath(f"Invalid path {path!r}: backslashes are not allowed")
    if _CONTROL.search(path):
        raise InvalidPath(f"Invalid path {path!r}: control characters (NUL, tab, newline...) are not allowed")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise InvalidPath(f"Invalid path {path!r}: empty, '.' and '..' segments are not allowed")
        if _DOT_GIT.fullmatch(part):
            raise InvalidPath(f"Invalid path {path!r}: {part!r} is reserved by git (as '.git')")
    return path


def validate_folder_path(path: str) -> str:
    """Like validate_repo_path, for a folder; a trailing '/' is accepted and dropped."""
    return validate_repo_path(path.rstrip("/") if path != "/" else path)
