"""Repository ids without a namespace (`gpt2`): answered exactly like a missing repository.

The Hub resolves a few legacy ids without a namespace; here every repository has one, so such an id names
nothing. Without these routes the request would match no route and get a bare 404, which clients turn into
a generic HTTP error instead of `RepositoryNotFoundError` (and `repo_exists` would raise instead of
returning False). Each route that names a repository as `{namespace}/{name}` gets a twin naming it as
`{name}` alone; the twins are mounted after every other route, so they only catch what nothing else does.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute

from modelyard.domain.errors import RepoNotFound
from modelyard.frontdoor.access import OpenAction, declared

_REPO_PATTERN = "{namespace}/{name}"


async def _missing_repo() -> None:
    # Through the one error mapping: 401 without credentials, else 404, with X-Error-Code RepoNotFound.
    raise RepoNotFound()


def bare_id_router(routers: Iterable[APIRouter]) -> APIRouter:
    """A router with a `{name}`-only twin of every repository route of `routers`."""
    twins = APIRouter(dependencies=[Depends(declared(OpenAction.PUBLIC))])
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute) or _REPO_PATTERN not in route.path:
                continue
            path = route.path.replace(_REPO_PATTERN, "{name}", 1)
            methods = set(route.methods) | ({"HEAD"} if "GET" in route.methods else set())
            twins.add_api_route(path, _missing_repo, methods=sorted(methods), include_in_schema=False)
    return twins
