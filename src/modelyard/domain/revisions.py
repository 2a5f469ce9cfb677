"""Revision names: branches, tags and the special refs the Hub knows."""

from __future__ import annotations

import re

from modelyard.domain.errors import BadRequest

DEFAULT_BRANCH = "main"
_HEX = re.compile(r"^[0-9a-f]{4,40}$")
# git-check-ref-format's rules, the ones a user can actually trip over.
_BAD_REF = re.compile(r"(^[./-])|(\.\.)|([\x00-\x20~^:?*\[\\\x7f])|(@\{)|(/\.)|(//)|(\.lock$)|([./]$)")


def is_commit_prefix(revision: str) -> bool:
    return bool(_HEX.match(revision))


def candidate_refs(revision: str) -> list[str]:
    """Full ref names a user-given revision may stand for, in lookup order."""
    if revision.startswith("refs/"):
        return [revision]
    return [f"refs/heads/{revision}", f"refs/tags/{revision}"]


def validate_new_ref_name(name: str, what: str) -> str:
    """Names of branches and tags a user creates: no special refs, git's format rules."""
    if not name or len(name) > 255 or name.startswith("refs/") or _BAD_REF.search(name):
        raise BadRequest(
            f"Invalid {what} name {name!r}: use letters, digits, '-', '_', '.' and '/', "
            "not starting with 'refs/' nor containing '..', spaces or ~^:?*[\\"
        )
    return name
