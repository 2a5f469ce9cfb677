"""The one place that decides who may do what, to which repository or namespace.

`authorize(actor, action, target)` decides from the actor (user, site administrator flag, organization
roles), the token's scope (read, write, or fine-grained grants), the action, and the target (its namespace,
the repository if any, its visibility, gating and creator). What the actor may do is the lower of two levels: what
the user may do there, and what the token lets it do there. A private repository the actor may not read
answers exactly like a missing one. A gated repository's metadata is visible like a public one's; downloading
its files (Action.DOWNLOAD) needs a read level there or an accepted access request.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, false, func, or_, true

from modelyard.db.models import Repo
from modelyard.domain.access_scopes import NAMESPACE_ENTITIES, ORG_ROLE_LEVELS, Level
from modelyard.domain.errors import Forbidden, GatedRepo, RepoNotFound
from modelyard.domain.repo_ids import RepoRef
from modelyard.services.users import FINE_GRAINED, Actor


class Action(StrEnum):
    READ = "read"  # see the repo, its files and history
    DOWNLOAD = "download"  # read file contents (resolve, LFS, Xet, git fetch): READ, past the gate of a gated repo
    WRITE = "write"  # commit, branches, tags, uploads
    ADMIN = "admin"  # delete, rename, change settings
    CREATE_REPO = "create-repo"  # create a repository in a namespace, or move one into it
    MANAGE_ORG = "manage-org"  # add, remove and change the roles of an organization's members
    ACCOUNT = "account"  # change one's own account (create an organization, leave one): target its namespace
    # Open discussions and pull requests on a repository one can read, comment, commit to one's own pull request.
    CONTRIBUTE = "contribute"


# The statuses of an access request to a gated repository (services/access_requests.py); accepted opens the gate.
PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"

REQUIRED_LEVEL = {
    Action.READ: Level.READ,
    Action.DOWNLOAD: Level.READ,
    Action.WRITE: Level.WRITE,
    Action.ADMIN: Level.ADMIN,
    Action.CREATE_REPO: Level.WRITE,
    Action.MANAGE_ORG: Level.ADMIN,
    Action.ACCOUNT: Level.WRITE,
    Action.CONTRIBUTE: Level.WRITE,  # of the token only: see authorize
}


@dataclass(frozen=True)
class Target:
    """What an action is about: a repository of `namespace`, or (`repo` None) the namespace itself."""

    namespace: str
    repo: RepoRef | None = None
    private: bool = False
    creator_id: int | None = None  # the user who created the repository, when known
    gated: bool = False  # downloads need a read level or an accepted access request
    # The status of the actor's request to download this gated repository: "" (none), pending, accepted, rejected.
    access_request: str = ""


def user_level(actor: Actor, target: Target) -> Level:
    """What the user behind the token may do to `target`, whatever the token."""
    if actor.is_admin or actor.name.lower() == target.namespace.lower():
        return Level.ADMIN
    role = actor.org_roles.get(target.namespace.lower())
    if role is None:
        return Level.NONE
    if role == "contributor" and (target.repo is None or target.creator_id == actor.user_id):
        return Level.WRITE  # contributors create repositories and write to those they created
    return ORG_ROLE_LEVELS[role]


def token_level(actor: Actor, target: Target) -> Level:
    """What the token lets its user do to `target`."""
    if actor.role == FINE_GRAINED:
        covering = [grant.level for grant in actor.grants if grant.covers(target.namespace, target.repo)]
        return max(covering, default=Level.NONE)
    return Level.ADMIN if actor.role == "write" else Level.READ


def level(actor: Actor | None, target: Target) -> Level:
    if actor is None:
        return Level.NONE
    return min(user_level(actor, target), token_level(actor, target))


def can_see(actor: Actor | None, target: Target) -> bool:
    return not target.private or level(actor, target) >= Level.READ


def visible_repos(actor: Actor | None) -> ColumnElement[bool]:
    """`can_see` as an SQL condition on the repos table, so that listings decide visibility in the database.

    A private repository is visible when both levels reach READ: the user's (a site administrator everywhere, a
    user in its own namespace and in every organization it has a role in) and the token's (read and write
    tokens everywhere, a fine-grained one where a grant covers the namespace or the repository).
    tests/unit/test_visible_repos.py checks that it agrees with `can_see` for every kind of actor.
    """
    public = Repo.private == false()
    if actor is None:
        return public
    namespace = func.lower(Repo.namespace)
    readable: ColumnElement[bool] = true()
    if not actor.is_admin:
        member_of = [org for org, role in actor.org_roles.items() if ORG_ROLE_LEVELS[role] >= Level.READ]
        readable = namespace.in_([actor.name.lower(), *member_of])
    if actor.role == FINE_GRAINED:
        granted_namespaces = [g.entity_name.lower() for g in actor.grants if g.entity_type in NAMESPACE_ENTITIES]
        granted_repos = [
            and_(Repo.type == g.entity_type, Repo.id_key == g.entity_name.lower())
            for g in actor.grants
            if g.entity_type not in NAMESPACE_ENTITIES
        ]
        readable = and_(readable, or_(false(), namespace.in_(granted_namespaces), *granted_repos))
    return or_(public, readable)


def authorize(actor: Actor | None, action: Action, target: Target) -> None:
    """Raise unless `actor` may perform `action` on `target`.

    A private repository the actor may not read answers exactly like a missing one (RepoNotFound); a visible
    one it may not change answers 403 (401 without credentials, frontdoor/errors.py).
    """
    granted = level(actor, target)
    if target.repo is not None and target.private and granted < Level.READ:
        raise RepoNotFound()
    if action is Action.DOWNLOAD:
        if target.gated and granted < Level.READ and not _passes_gate(actor, target):
            raise _gated(actor, target)
        return
    if action is Action.READ or granted >= REQUIRED_LEVEL[action]:
        return
    if actor is None:
        raise Forbidden("You must be authenticated to do this: pass a token with write access")
    if action is Action.CONTRIBUTE:
        # Anyone who can read the repository may contribute to it (as on the Hub), with a token that may act there:
        # the write role, or a fine-grained grant of write on it.
        if token_level(actor, target) >= REQUIRED_LEVEL[action]:
            return
        if actor.role == FINE_GRAINED:
            raise Forbidden(f"Your fine-grained token has no write grant for {_what(target)}")
        raise Forbidden("Your token is read-only: this action needs a token with the write role")
    if user_level(actor, target) >= REQUIRED_LEVEL[action]:
        if actor.role == FINE_GRAINED:
            raise Forbidden(f"Your fine-grained token has no write grant for {_what(target)}")
        raise Forbidden("Your token is read-only: this action needs a token with the write role")
    if action is Action.MANAGE_ORG:
        raise Forbidden(f"You must be an admin of the organization {target.namespace} to do this")
    if action is Action.ADMIN:
        raise Forbidden(f"You must be an admin of {_what(target)} to do this")
    raise Forbidden(f"You don't have the rights to write in the namespace {target.namespace}")


def _passes_gate(actor: Actor | None, target: Target) -> bool:
    """An accepted access request opens the gate to the user's tokens; a fine-grained one must cover the repo."""
    if actor is None or target.access_request != ACCEPTED:
        return False
    return actor.role != FINE_GRAINED or token_level(actor, target) >= Level.READ


def _gated(actor: Actor | None, target: Target) -> GatedRepo:
    """The Hub's words: huggingface_hub raises GatedRepoError on the code, and shows the message."""
    assert target.repo is not None
    what = f"{target.repo.type.value} {target.repo.id}"
    if actor is None:
        return GatedRepo(
            f"Access to {what} is restricted. You must have access to it and be authenticated to access it. "
            "Please log in."
        )
    if target.access_request == PENDING:
        return GatedRepo(f"Your request to access {what} is awaiting a review from the repo authors.")
    if target.access_request == REJECTED:
        return GatedRepo(f"Your request to access {what} has been rejected by the repo's authors.")
    return GatedRepo(
        f"Access to {what} is restricted and you are not in the authorized list. "
        f"Ask for access with POST /api/{target.repo.type.value}s/{target.repo.id}/ask-access."
    )


def _what(target: Target) -> str:
    return f"the repository {target.repo.id}" if target.repo else f"the namespace {target.namespace}"
