"""Paths of files inside a repository: relative, normalized, never escaping the root."""

from __future__ import annotations

from modelyard.domain.errors import InvalidPath

MAX_PATH_LENGTH = 1024


def validate_repo_path(path: str) -> str:
    """Return `path` if it is a clean relative file path inside a repo, else raise InvalidPath."""
    if not path:
        raise InvalidPath("Empty file path")
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidPath(f"File path longer than {MAX_PATH_LENGTH} characters")
    if path.startswith("/"):
        raise InvalidPath(f"Invalid path {path!r}: paths are relative to the repository root (no leading '/')")
    if "\\" in path or "\x00" in path:
        raise InvalidPath(f"Invalid path {path!r}: backslashes and NUL bytes are not allowed")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise InvalidPath(f"Invalid path {path!r}: empty, '.' and '..' segments are not allowed")
    if parts[0] == ".git":
        raise InvalidPath(f"Invalid path {path!r}: '.git' is reserved")
    return path


def validate_folder_path(path: str) -> str:
    """Like validate_repo_path, for a folder; a trailing '/' is accepted and dropped."""
    return validate_repo_path(path.rstrip("/") if path != "/" else path)
