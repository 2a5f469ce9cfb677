"""Organizations: overview and members as huggingface_hub reads them, plus creating them and managing members.

GET    /api/organizations                          every organization, with its number of members
POST   /api/organizations/create                   {name, fullname?}: the caller becomes its admin
GET    /api/organizations/{org}/overview           get_organization_overview
GET    /api/organizations/{org}/members            list_organization_members (roles shown to members)
PUT    /api/organizations/{org}/members/{user}     {role}: add a member or change a role (org admins)
DELETE /api/organizations/{org}/members/{user}     remove a member (org admins), or leave (the member)
GET    /api/users/{user}/overview                  get_user_overview, with the user's organizations
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from modelyard.domain.errors import BadRequest
from modelyard.domain.repo_ids import RepoType
from modelyard.frontdoor.access import OpenAction, authenticated_actor, declared
from modelyard.frontdoor.deps import get_actor, get_hub, json_body
from modelyard.services import orgs
from modelyard.services.access import Action
from modelyard.services.hub import Hub
from modelyard.services.orgs import Member, OrgRecord
from modelyard.services.users import Actor

router = APIRouter()


def org_json(org: OrgRecord) -> dict[str, Any]:
    return {"type": "org", "id": str(org.pk), "name": org.name, "fullname": org.fullname, "avatarUrl": ""}


def member_json(member: Member, with_role: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "user",
        "id": str(member.user_id),
        "user": member.name,
        "fullname": member.fullname,
        "avatarUrl": "",
        "isFollowing": False,
    }
    if with_role:
        data["role"] = member.role
    return data


@router.get("/api/organizations", dependencies=[Depends(declared(OpenAction.PUBLIC))])
def list_orgs(hub: Hub = Depends(get_hub)) -> list[dict[str, Any]]:
    return [{**org_json(org), "numUsers": count} for org, count in orgs.list_orgs(hub)]


@router.post("/api/organizations/create", dependencies=[Depends(declared(Action.ACCOUNT))])
def create_org(
    body: dict[str, Any] = Depends(json_body), actor: Actor = Depends(authenticated_actor), hub: Hub = Depends(get_hub)
) -> dict[str, Any]:
    name, fullname = body.get("name"), body.get("fullname") or ""
    if not isinstance(name, str) or not isinstance(fullname, str):
        raise BadRequest("Expected a JSON body {name, fullname?}")
    return org_json(orgs.create_org(hub, actor, name, fullname))


@router.get("/api/organizations/{org}/overview", dependencies=[Depends(declared(OpenAction.PUBLIC))])
def overview(org: str, actor: Actor | None = Depends(get_actor), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    found = orgs.overview(hub, actor, org)
    counts = {f"num{kind.plural.capitalize()}": found.repos[kind] for kind in RepoType}
    return {**org_json(found.org), "numUsers": found.members, "isFollowing": False, "numFollowers": 0, **counts}


@router.get("/api/organizations/{org}/members", dependencies=[Depends(declared(OpenAction.PUBLIC))])
def members(org: str, actor: Actor | None = Depends(get_actor), hub: Hub = Depends(get_hub)) -> list[dict[str, Any]]:
    with_roles = orgs.sees_roles(actor, org)
    return [member_json(member, with_roles) for member in orgs.members(hub, org)]


@router.put("/api/organizations/{org}/members/{user}", dependencies=[Depends(declared(Action.MANAGE_ORG))])
def set_member(
    org: str,
    user: str,
    body: dict[str, Any] = Depends(json_body),
    actor: Actor = Depends(authenticated_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    return member_json(orgs.set_member(hub, actor, org, user, body.get("role")), with_role=True)


@router.delete("/api/organizations/{org}/members/{user}", dependencies=[Depends(declared(Action.MANAGE_ORG))])
def remove_member(
    org: str, user: str, actor: Actor = Depends(authenticated_actor), hub: Hub = Depends(get_hub)
) -> dict[str, Any]:
    orgs.remove_member(hub, actor, org, user)
    return {}


@router.get("/api/users/{user}/overview", dependencies=[Depends(declared(OpenAction.PUBLIC))])
def user_overview(user: str, hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    found = orgs.user_profile(hub, user)
    return {
        "type": "user",
        "id": str(found.user_id),
        "user": found.name,
        "fullname": found.fullname,
        "avatarUrl": "",
        "isPro": False,
        "orgs": [org_json(org) for org, _ in orgs.memberships(hub, found.user_id)],
    }
