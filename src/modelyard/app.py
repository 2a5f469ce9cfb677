"""The ASGI application: every front door mounted on one app, wired to one Hub."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from modelyard import __version__
from modelyard.api import access_log, openapi
from modelyard.api.head import answer_head_like_get
from modelyard.api.raw_path import RawPathMiddleware
from modelyard.api.routes_account import router as account_router
from modelyard.api.routes_admin import router as admin_router
from modelyard.api.routes_bare_ids import bare_id_router
from modelyard.api.routes_commit import router as commit_router
from modelyard.api.routes_discussions import router as discussions_router
from modelyard.api.routes_gating import router as gating_router
from modelyard.api.routes_lfs import router as lfs_router
from modelyard.api.routes_likes import router as likes_router
from modelyard.api.routes_model_tree import router as model_tree_router
from modelyard.api.routes_orgs import router as orgs_router
from modelyard.api.routes_repos import router as repos_router
from modelyard.api.routes_resolve import router as resolve_router
from modelyard.api.routes_tokens import router as tokens_router
from modelyard.api.routes_tree import router as tree_router
from modelyard.api.routes_weights import router as weights_router
from modelyard.background.download_flusher import flushing_download_counts
from modelyard.config import Settings
from modelyard.frontdoor import errors
from modelyard.frontdoor.request_id import RequestIdMiddleware
from modelyard.gitserve.routes import router as git_router
from modelyard.private_files import restrict_new_files
from modelyard.services.hub import Hub
from modelyard.xet.cas import router as xet_cas_router
from modelyard.xet.hub_routes import router as xet_hub_router


def create_app(settings: Settings | None = None, hub: Hub | None = None) -> FastAPI:
    hub = hub or Hub.open(settings or Settings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with flushing_download_counts(hub):
            yield

    app = FastAPI(
        title="Modelyard",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=openapi.OPENAPI_URL,
        lifespan=lifespan,
    )
    app.state.hub = hub
    errors.install(app)
    openapi.install(app)
    access_log.install()
    # Order matters: specific API paths before the catch-all repo patterns of resolve.
    # /api/lfs/{repo_pk}/{oid} (LFS downloads) and /api/organizations/... before /api/{repo_type}/... (repos).
    routers = (
        account_router,
        admin_router,
        tokens_router,
        orgs_router,
        likes_router,  # /api/users/{user}/likes before the repository routes, which would read it as a repo id
        xet_hub_router,
        xet_cas_router,
        lfs_router,
        repos_router,
        tree_router,
        weights_router,
        model_tree_router,
        commit_router,
        discussions_router,
        gating_router,
        git_router,
        resolve_router,
    )
    answer_head_like_get(routers)
    for router in (*routers, bare_id_router(routers)):  # ids without a namespace last: they catch the rest
        app.include_router(router)
    app.add_middleware(RawPathMiddleware)
    app.add_middleware(RequestIdMiddleware)  # outermost: every response carries X-Request-Id
    logging.getLogger("modelyard").setLevel(logging.INFO)
    return app


def app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory modelyard.app:app_from_environment` (settings from MODELYARD_*)."""
    restrict_new_files()
    return create_app(Settings())
