"""Identity and server-wide endpoints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, PlainTextResponse, Response

from modelyard.api.access import OpenAction, authenticated_actor, declared
from modelyard.api.deps import get_hub, json_body
from modelyard.domain.card_metadata import validate_card
from modelyard.domain.errors import BadRequest, TooLarge
from modelyard.services.hub import Hub
from modelyard.services.users import Actor

router = APIRouter()


@router.get("/api/health", dependencies=[Depends(declared(OpenAction.PUBLIC))])
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/api/whoami-v2")
def whoami(actor: Actor = Depends(authenticated_actor)) -> dict[str, Any]:
    return {
        "type": "user",
        "id": str(actor.user_id),
        "name": actor.name,
        "fullname": actor.fullname,
        "email": actor.email or None,
        "emailVerified": False,
        "avatarUrl": "",
        "isPro": False,
        "orgs": [],
        "auth": {"type": "access_token", "accessToken": {"displayName": actor.token_name, "role": actor.role}},
    }


@router.post("/api/validate-yaml", dependencies=[Depends(declared(OpenAction.PUBLIC))])
async def validate_yaml(
    request: Request, body: dict[str, Any] = Depends(json_body), hub: Hub = Depends(get_hub)
) -> Response:
    content = body.get("content")
    if not isinstance(content, str):
        raise BadRequest("Expected a JSON body {content, repoType}")
    limit = hub.settings.max_regular_file_size
    if len(content) > limit:  # characters, a lower bound of its size in bytes: cheap, and parsing is the cost
        raise TooLarge(f"The content to validate is longer than {limit} characters, the limit for a README.md")
    try:
        warnings = await run_in_threadpool(validate_card, content)
    except BadRequest as error:
        if "text/plain" in request.headers.get("accept", ""):
            return PlainTextResponse(error.message, status_code=400)
        errors = error.details.get("errors") or [{"message": error.message}]
        return JSONResponse({"errors": errors, "warnings": []}, status_code=400)
    return JSONResponse({"errors": [], "warnings": [{"message": warning} for warning in warnings]})


@router.get("/api/agent-harnesses", dependencies=[Depends(declared(OpenAction.PUBLIC))])
def agent_harnesses() -> dict[str, Any]:
    return {"standardEnvVars": [], "harnesses": {}}
