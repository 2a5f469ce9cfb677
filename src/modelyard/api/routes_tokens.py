"""A user's own access tokens: list them (with their last use) and revoke one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path
from starlette.concurrency import run_in_threadpool

from modelyard.domain.numbers import INT64_MAX
from modelyard.frontdoor.access import authenticated_actor
from modelyard.frontdoor.deps import get_hub
from modelyard.services import tokens
from modelyard.services.hub import Hub
from modelyard.services.users import Actor

router = APIRouter()


@router.get("/api/settings/tokens")
async def list_tokens(actor: Actor = Depends(authenticated_actor), hub: Hub = Depends(get_hub)) -> list[dict[str, Any]]:
    found = await run_in_threadpool(tokens.list_tokens, hub, actor.name)
    return [token.to_json() for token in found]


@router.delete("/api/settings/tokens/{token_id}")
async def revoke_token(
    token_id: int = Path(ge=1, le=INT64_MAX), actor: Actor = Depends(authenticated_actor), hub: Hub = Depends(get_hub)
) -> dict[str, Any]:
    """Revoke one of the caller's tokens (a write token is needed): it stops working at the next request."""
    revoked = await run_in_threadpool(tokens.revoke_own, hub, actor, token_id)
    return revoked.to_json()
