"""Every route declares the action it performs; the services' policy decides.

`repo_access(action)` is a dependency that loads the repository named by the path, checks the actor may
perform `action` on it (services.access.authorize) and hands the route its record. Routes that are not
about one repository declare what they are with `declared(...)`. A test walks every route and fails when
one declares nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from modelyard.domain.errors import Unauthorized
from modelyard.domain.repo_ids import RepoType
from modelyard.frontdoor.deps import get_actor, get_hub, repo_ref
from modelyard.services import repos
from modelyard.services.access import Action
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor


class OpenAction(StrEnum):
    """Actions of routes that do not act on one existing repository."""

    PUBLIC = "public"  # anyone: health, validation helpers
    AUTHENTICATED = "authenticated"  # a valid token: whoami, creating repos (the service checks the namespace)
    SIGNED_URL = "signed-url"  # the URL itself carries a signature granting one transfer
    GIT_SERVICE = "git-service"  # the `service` parameter decides: upload-pack reads, receive-pack writes
    REPO_BY_BODY = "repo-by-body"  # the repository is named in the body; the service authorizes


def repo_access(action: Action, repo_type: RepoType | None = None) -> Callable[..., Awaitable[RepoRecord]]:
    """Dependency: the repo of the path, if the actor may perform `action` on it."""

    async def load(
        request: Request, actor: Actor | None = Depends(get_actor), hub: Hub = Depends(get_hub)
    ) -> RepoRecord:
        params = request.path_params
        kind = repo_type or RepoType.from_plural(params["repo_type"])
        ref = repo_ref(kind, params["namespace"], params["name"])
        return await run_in_threadpool(repos.get_repo, hub, actor, ref, action)

    load.declared_action = action  # type: ignore[attr-defined]
    return load


async def authenticated_actor(actor: Actor | None = Depends(get_actor)) -> Actor:
    """Dependency: the request's user; 401 without a token."""
    if actor is None:
        raise Unauthorized("This needs a token: send `Authorization: Bearer <token>`")
    return actor


authenticated_actor.declared_action = OpenAction.AUTHENTICATED  # type: ignore[attr-defined]


def declared(action: OpenAction | Action) -> Callable[[], None]:
    """Dependency that only records the route's action, for routes that authorize in their own way."""

    def marker() -> None:
        return None

    marker.declared_action = action  # type: ignore[attr-defined]
    return marker
