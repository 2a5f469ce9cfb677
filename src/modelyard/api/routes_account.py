"""Identity and server-wide endpoints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, PlainTextResponse, Response

from modelyard.api.routes_orgs import org_json
from modelyard.domain.card_metadata import validate_card
from modelyard.domain.errors import BadRequest, TooLarge
from modelyard.frontdoor.access import OpenAction, authenticated_actor, declared
from modelyard.frontdoor.deps import get_hub, json_body
from modelyard.services import orgs
from modelyard.services.hub import Hub
from modelyard.services.users import FINE_GRAINED, Actor

router = APIRouter()
# What the Hub's whoami-v2 says of each organization besides its name and the user's role in it.
ORG_ACCOUNT = {"email": None, "canPay": False, "periodEnd": None, "isEnterprise": False}


@router.get("/api/health", dependencies=[Depends(declared(OpenAction.PUBLIC))])
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/api/whoami-v2")
def whoami(actor: Actor = Depends(authenticated_actor), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """As the Hub answers it: the user, its organizations with its role in each, and the token's scope."""
    token: dict[str, Any] = {"displayName": actor.token_name, "role": actor.role}
    if actor.role == FINE_GRAINED:
        ids = orgs.grant_entity_ids(hub, actor.grants)
        scoped = [grant.to_hub_json(entity_id) for grant, entity_id in zip(actor.grants, ids, strict=True)]
        token["fineGrained"] = {"canReadGatedRepos": False, "global": [], "scoped": scoped}
    memberships = orgs.memberships(hub, actor.user_id)
    return {
        "type": "user",
        "id": str(actor.user_id),
        "name": actor.name,
        "fullname": actor.fullname,
        "email": actor.email or None,
        "emailVerified": False,
        "canPay": False,
        "periodEnd": None,
        "avatarUrl": "",
        "isPro": False,
        "orgs": [{**org_json(org), **ORG_ACCOUNT, "roleInOrg": role} for org, role in memberships],
        "auth": {"type": "access_token", "accessToken": token},
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
