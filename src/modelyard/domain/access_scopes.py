"""What an actor may do, in pure terms: access levels, organization roles and fine-grained token grants.

The levels are ordered: each includes the ones before it. Organization roles are the Hub's (read, contributor,
write, admin); a fine-grained token carries grants, each naming a user or organization namespace or one
repository with `read` or `write`, rendered as the Hub renders them in `whoami-v2` (`repo.content.read`,
`repo.write`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from modelyard.domain.errors import BadRequest
from modelyard.domain.repo_ids import RepoRef, RepoType, validate_name_part


class Level(IntEnum):
    NONE = 0
    READ = 1  # see private repos, download
    WRITE = 2  # commit, branches, tags, uploads
    ADMIN = 3  # delete, rename, settings; manage an organization's members


ORG_ROLES = ("read", "contributor", "write", "admin")
# A contributor reads every repo of the organization, creates repos in it and writes to the repos it created.
ORG_ROLE_LEVELS = {"read": Level.READ, "contributor": Level.READ, "write": Level.WRITE, "admin": Level.ADMIN}

NAMESPACE_ENTITIES = ("user", "org")
ENTITY_TYPES = (*NAMESPACE_ENTITIES, *(kind.value for kind in RepoType))
GRANT_PERMISSIONS = ("read", "write")
# The Hub's names for what a grant allows, as whoami-v2 lists them.
HUB_PERMISSIONS = {"read": ["repo.content.read"], "write": ["repo.content.read", "repo.write"]}


def parse_org_role(role: object) -> str:
    if not isinstance(role, str) or role not in ORG_ROLES:
        raise BadRequest(f"Unknown organization role {role!r}: expected one of {', '.join(ORG_ROLES)}")
    return role


@dataclass(frozen=True)
class Grant:
    """One scope of a fine-grained token: `entity_type` is user, org, model, dataset or space."""

    entity_type: str
    entity_name: str  # a namespace, or `namespace/name` for a repository
    permission: str  # "read" or "write"

    @property
    def level(self) -> Level:
        return Level.ADMIN if self.permission == "write" else Level.READ

    def covers(self, namespace: str, repo: RepoRef | None) -> bool:
        """Whether this grant is about the namespace, or about `repo` itself."""
        if self.entity_type in NAMESPACE_ENTITIES:
            return self.entity_name.lower() == namespace.lower()
        return repo is not None and repo.type.value == self.entity_type and repo.key == self.entity_name.lower()

    def to_hub_json(self, entity_id: str) -> dict[str, object]:
        entity = {"_id": entity_id, "type": self.entity_type, "name": self.entity_name}
        return {"entity": entity, "permissions": HUB_PERMISSIONS[self.permission]}

    @classmethod
    def parse(cls, text: str) -> Grant:
        """`TYPE:NAME=PERMISSION`, e.g. `model:acme/bert=read`, `org:acme=write`, `user:alice=read`."""
        target, sep, permission = text.rpartition("=")
        entity_type, colon, name = target.partition(":")
        if not sep or not colon:
            raise BadRequest(f"Invalid grant {text!r}: expected TYPE:NAME=read|write, e.g. model:acme/bert=read")
        return cls.of(entity_type, name, permission)

    @classmethod
    def of(cls, entity_type: str, name: str, permission: str) -> Grant:
        if entity_type not in ENTITY_TYPES:
            raise BadRequest(f"Unknown grant entity type {entity_type!r}: expected one of {', '.join(ENTITY_TYPES)}")
        if permission not in GRANT_PERMISSIONS:
            raise BadRequest(f"Unknown grant permission {permission!r}: expected read or write")
        if entity_type in NAMESPACE_ENTITIES:
            validate_name_part(name, "namespace")
        else:
            RepoRef.parse(RepoType(entity_type), name)
        return cls(entity_type, name, permission)
