"""The one place that decides who may do what to which repository."""

from __future__ import annotations

from enum import StrEnum

from modelyard.domain.errors import Forbidden, RepoNotFound
from modelyard.services.users import Actor


class Action(StrEnum):
    READ = "read"  # see the repo, its files and history
    WRITE = "write"  # commit, branches, tags, uploads
    ADMIN = "admin"  # delete, rename, change settings


def owns(actor: Actor | None, namespace: str) -> bool:
    # Names are case-insensitive, as on the Hub (and unique that way: services.users).
    return actor is not None and actor.name.lower() == namespace.lower()


def can_see(actor: Actor | None, namespace: str, private: bool) -> bool:
    return not private or owns(actor, namespace)


def authorize(actor: Actor | None, action: Action, namespace: str, private: bool) -> None:
    """Raise unless `actor` may perform `action` on a repo of `namespace`.

    A private repo the actor may not see answers exactly like a missing one.
    """
    if not can_see(actor, namespace, private):
        raise RepoNotFound()
    if action is Action.READ:
        return
    if actor is None:
        raise Forbidden("You must be authenticated to do this: pass a token with write access")
    if not owns(actor, namespace):
        raise Forbidden(f"You don't have the rights to write in the namespace {namespace}")
    if not actor.can_write:
        raise Forbidden("Your token is read-only: this action needs a token with the write role")


def authorize_namespace_write(actor: Actor | None, namespace: str) -> None:
    """Creating a repo in `namespace`, or moving one into it."""
    authorize(actor, Action.WRITE, namespace, private=False)
