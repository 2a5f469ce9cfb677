"""Site administration over HTTP: the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from modelyard.frontdoor.access import authenticated_actor
from modelyard.frontdoor.deps import get_hub
from modelyard.services import audit
from modelyard.services.hub import Hub
from modelyard.services.users import Actor

router = APIRouter()


@router.get("/api/admin/audit")
async def audit_log(
    limit: int = Query(default=100, ge=1, le=audit.MAX_PAGE),
    before: int | None = Query(default=None, ge=1, le=2**63 - 1),
    event: str | None = Query(default=None, max_length=48),
    actor: Actor = Depends(authenticated_actor),
    hub: Hub = Depends(get_hub),
) -> list[dict[str, Any]]:
    """The newest events first; `before` (an event id) pages back. Site administrators only."""
    audit.require_admin(actor)
    entries = await run_in_threadpool(audit.list_events, hub, limit, before, event)
    return [entry.to_json() for entry in entries]
