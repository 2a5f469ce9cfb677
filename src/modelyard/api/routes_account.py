"""Identity and server-wide endpoints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from modelyard.api.access import OpenAction, declared
from modelyard.api.deps import get_actor
from modelyard.domain.cards import front_matter
from modelyard.domain.errors import BadRequest, Unauthorized
from modelyard.services.users import Actor

router = APIRouter()


@router.get("/api/health", dependencies=[Depends(declared(OpenAction.PUBLIC))])
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/api/whoami-v2", dependencies=[Depends(declared(OpenAction.AUTHENTICATED))])
def whoami(actor: Actor | None = Depends(get_actor)) -> dict[str, Any]:
    if actor is None:
        raise Unauthorized("You must pass a token to call whoami")
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
async def validate_yaml(request: Request) -> Response:
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("Expected a JSON body {content, repoType}") from None
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, str):
        raise BadRequest("Expected a JSON body {content, repoType}")
    try:
        front_matter(content)
    except BadRequest as error:
        if "text/plain" in request.headers.get("accept", ""):
            return PlainTextResponse(error.message, status_code=400)
        return JSONResponse({"errors": [{"message": error.message}], "warnings": []}, status_code=400)
    return JSONResponse({"errors": [], "warnings": []})


@router.get("/api/agent-harnesses", dependencies=[Depends(declared(OpenAction.PUBLIC))])
def agent_harnesses() -> dict[str, Any]:
    return {"standardEnvVars": [], "harnesses": {}}
