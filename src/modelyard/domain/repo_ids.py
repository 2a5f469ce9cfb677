"""Repository types and names, validated the way the Hub validates them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from modelyard.domain.errors import InvalidName


class RepoType(StrEnum):
    MODEL = "model"
    DATASET = "dataset"
    SPACE = "space"

    @property
    def plural(self) -> str:
        return f"{self.value}s"

    @property
    def url_prefix(self) -> str:
        """Prefix of web and resolve URLs: empty for models, `datasets/` or `spaces/` otherwise."""
        return "" if self is RepoType.MODEL else f"{self.plural}/"

    @classmethod
    def from_plural(cls, plural: str) -> RepoType:
        for repo_type in cls:
            if repo_type.plural == plural:
                return repo_type
        raise InvalidName(f"Unknown repository type {plural!r}: expected models, datasets or spaces")

    @classmethod
    def parse(cls, value: str | None) -> RepoType:
        if value is None:
            return cls.MODEL
        try:
            return cls(value)
        except ValueError:
            raise InvalidName(f"Unknown repository type {value!r}: expected model, dataset or space") from None


_NAME_CHARS = re.compile(r"^[A-Za-z0-9._-]+$")
NAME_RULES = (
    "Names may contain letters, digits, '-', '_' and '.', are 1 to 96 characters long, "
    "cannot contain '--' or '..', cannot start or end with '-' or '.', and cannot end with '.git'"
)


def validate_name_part(part: str, what: str = "name") -> str:
    """Validate a namespace or repository name; returns it unchanged or raises InvalidName."""
    if (
        not 1 <= len(part) <= 96
        or not _NAME_CHARS.match(part)
        or "--" in part
        or ".." in part
        or part[0] in "-."
        or part[-1] in "-."
        or part.endswith(".git")
    ):
        raise InvalidName(f"Invalid repository {what} {part!r}. {NAME_RULES}.")
    return part


@dataclass(frozen=True)
class RepoRef:
    """What names a repository in a request: its type, namespace and name."""

    type: RepoType
    namespace: str
    name: str

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def key(self) -> str:
        """What identifies the repository within its type: ids are case-insensitive, as on the Hub."""
        return self.id.lower()

    @classmethod
    def parse(cls, repo_type: RepoType, repo_id: str) -> RepoRef:
        namespace, sep, name = repo_id.partition("/")
        if not sep:
            raise InvalidName(f"Invalid repository id {repo_id!r}: expected 'namespace/name'")
        return cls(repo_type, validate_name_part(namespace, "namespace"), validate_name_part(name))
