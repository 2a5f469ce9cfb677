"""Users, organizations and tokens made through `modelyard admin`, the operator's real CLI."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    name: str
    token: str


def make_person(server, prefix: str, role: str = "write") -> Person:
    """A fresh user with a token of `role`."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    server.create_user(name)
    return Person(name, server.create_token(name, role))


def make_org(server, admin: Person, members: dict[str, str] | None = None) -> str:
    """A fresh organization with `admin` as its admin and `members` (user name -> role)."""
    name = f"org-{uuid.uuid4().hex[:8]}"
    server.admin("org-create", name, "--admin", admin.name)
    for user, role in (members or {}).items():
        server.admin("org-set-member", name, user, "--role", role)
    return name


def fine_grained_token(server, user: str, *grants: str) -> str:
    """A fine-grained token of `user` with `grants` (`TYPE:NAME=read|write`)."""
    args = [arg for grant in grants for arg in ("--grant", grant)]
    out = server.admin("create-token", user, *args)
    return out.strip().splitlines()[-1].strip()
