"""Organizations: namespaces owned by their members, each with a role (read, contributor, write, admin).

Who may change what is decided by services.access (Action.MANAGE_ORG, Action.ACCOUNT) when the change comes
from a request (`by` an Actor); the operator at the console (`by` a name, "cli:<os user>") is trusted. Membership
changes are written to the audit log in the transaction that makes them. Roles are read from the database on
every request (services.users.actor_of), so a membership change takes effect on the very next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.db.models import Organization, OrgMember, Repo, User
from modelyard.domain.access_scopes import NAMESPACE_ENTITIES, Grant, Level, parse_org_role
from modelyard.domain.dates import utcnow
from modelyard.domain.errors import BadRequest, Conflict, NotFound
from modelyard.domain.repo_ids import RepoRef, RepoType, validate_name_part
from modelyard.services import audit, users
from modelyard.services.access import Action, Target, authorize, can_see, level
from modelyard.services.hub import Hub
from modelyard.services.users import Actor


@dataclass(frozen=True)
class OrgRecord:
    pk: int
    name: str
    fullname: str
    created_at: datetime

    @classmethod
    def of(cls, row: Organization) -> OrgRecord:
        return cls(row.id, row.name, row.fullname, row.created_at)


@dataclass(frozen=True)
class Member:
    user_id: int
    name: str
    fullname: str
    role: str


@dataclass(frozen=True)
class Overview:
    org: OrgRecord
    members: int
    repos: dict[RepoType, int]  # those the caller can see


def _org_row(session: Session, name: str) -> Organization:
    validate_name_part(name, "organization name")  # also keeps NUL bytes away from PostgreSQL
    row = session.scalar(select(Organization).where(func.lower(Organization.name) == name.lower()))
    if row is None:
        raise NotFound(f"Organization {name} not found")
    return row


def _user_row(session: Session, name: str) -> User:
    validate_name_part(name, "user name")
    return users.user_named(session, name)


def namespace_spelling(hub: Hub, namespace: str) -> str:
    """The user's or organization's name as it was created; NotFound when neither exists."""
    validate_name_part(namespace, "namespace")
    with hub.db.session() as session:
        for column in (User.name, Organization.name):
            found = session.scalar(select(column).where(func.lower(column) == namespace.lower()))
            if found is not None:
                return found
    raise NotFound(f"Namespace {namespace} not found")


def create_org(hub: Hub, by: Actor | str, name: str, fullname: str = "", admin: str | None = None) -> OrgRecord:
    """A new organization whose first admin is `admin` (the operator's CLI) or else the user creating it."""
    validate_name_part(name, "organization name")
    if isinstance(by, Actor):
        authorize(by, Action.ACCOUNT, Target(by.name))
    first_admin = admin or (by.name if isinstance(by, Actor) else None)
    if first_admin is None:
        raise BadRequest("An organization needs a first admin")
    try:
        with hub.db.session() as session:
            user = _user_row(session, first_admin)
            taken = session.scalar(select(User.id).where(func.lower(User.name) == name.lower())) or session.scalar(
                select(Organization.id).where(func.lower(Organization.name) == name.lower())
            )
            if taken is not None:
                raise Conflict(f"The name {name} is already taken by a user or an organization")
            row = Organization(name=name, fullname=fullname or name, created_at=utcnow())
            session.add(row)
            session.flush()
            session.add(OrgMember(org_id=row.id, user_id=user.id, role="admin", created_at=utcnow()))
            audit.record(session, audit.Event.MEMBERSHIP_CHANGED, f"org:{name}", by, user=user.name, role="admin")
            return OrgRecord.of(row)
    except IntegrityError:
        raise Conflict(f"The name {name} is already taken by a user or an organization") from None


def list_orgs(hub: Hub) -> list[tuple[OrgRecord, int]]:
    """Every organization with its number of members, by name."""
    with hub.db.session() as session:
        rows = session.execute(
            select(Organization, func.count(OrgMember.id))
            .outerjoin(OrgMember, OrgMember.org_id == Organization.id)
            .group_by(Organization.id)
            .order_by(func.lower(Organization.name))
        ).all()
        return [(OrgRecord.of(org), count) for org, count in rows]


def overview(hub: Hub, actor: Actor | None, name: str) -> Overview:
    with hub.db.session() as session:
        org = OrgRecord.of(_org_row(session, name))
        members = session.scalar(select(func.count(OrgMember.id)).where(OrgMember.org_id == org.pk)) or 0
        repos = session.execute(
            select(Repo.type, Repo.name, Repo.private, Repo.creator_id).where(
                func.lower(Repo.namespace) == org.name.lower()
            )
        ).all()
    counts = dict.fromkeys(RepoType, 0)
    for kind, repo_name, private, creator in repos:
        ref = RepoRef(RepoType(kind), org.name, repo_name)
        if can_see(actor, Target(org.name, ref, private, creator)):
            counts[ref.type] += 1
    return Overview(org, members, counts)


def members(hub: Hub, name: str) -> list[Member]:
    with hub.db.session() as session:
        org = _org_row(session, name)
        rows = session.execute(
            select(User.id, User.name, User.fullname, OrgMember.role)
            .join(OrgMember, OrgMember.user_id == User.id)
            .where(OrgMember.org_id == org.id)
            .order_by(func.lower(User.name))
        ).all()
    return [Member(*row) for row in rows]


def user_profile(hub: Hub, name: str) -> Member:
    """A user, as a member without a role."""
    with hub.db.session() as session:
        user = _user_row(session, name)
        return Member(user.id, user.name, user.fullname, "")


def sees_roles(actor: Actor | None, org: str) -> bool:
    """Members (and site administrators) see each other's roles; others see who the members are."""
    return level(actor, Target(org)) >= Level.READ


def memberships(hub: Hub, user_id: int) -> list[tuple[OrgRecord, str]]:
    """The organizations of a user, with the user's role in each, by name."""
    with hub.db.session() as session:
        rows = session.execute(
            select(Organization, OrgMember.role)
            .join(OrgMember, OrgMember.org_id == Organization.id)
            .where(OrgMember.user_id == user_id)
            .order_by(func.lower(Organization.name))
        ).all()
        return [(OrgRecord.of(org), role) for org, role in rows]


def set_member(hub: Hub, by: Actor | str, org_name: str, user_name: str, role: object) -> Member:
    """Add `user_name` to the organization with `role`, or change the member's role."""
    role = parse_org_role(role)
    if isinstance(by, Actor):
        authorize(by, Action.MANAGE_ORG, Target(org_name))
    with hub.db.session() as session:
        org = _org_row(session, org_name)
        user = _user_row(session, user_name)
        row = session.scalar(select(OrgMember).where(OrgMember.org_id == org.id, OrgMember.user_id == user.id))
        if row is None:
            session.add(OrgMember(org_id=org.id, user_id=user.id, role=role, created_at=utcnow()))
        else:
            if row.role == "admin" and role != "admin":
                _keep_an_admin(session, org, user)
            row.role = role
        audit.record(session, audit.Event.MEMBERSHIP_CHANGED, f"org:{org.name}", by, user=user.name, role=role)
        return Member(user.id, user.name, user.fullname, role)


def remove_member(hub: Hub, by: Actor | str, org_name: str, user_name: str) -> None:
    """Remove a member; a member may always leave, but an organization keeps at least one admin."""
    if isinstance(by, Actor) and by.name.lower() == user_name.lower():
        authorize(by, Action.ACCOUNT, Target(by.name))  # leaving
    elif isinstance(by, Actor):
        authorize(by, Action.MANAGE_ORG, Target(org_name))
    with hub.db.session() as session:
        org = _org_row(session, org_name)
        user = _user_row(session, user_name)
        row = session.scalar(select(OrgMember).where(OrgMember.org_id == org.id, OrgMember.user_id == user.id))
        if row is None:
            raise NotFound(f"{user.name} is not a member of {org.name}")
        if row.role == "admin":
            _keep_an_admin(session, org, user)
        session.delete(row)
        audit.record(session, audit.Event.MEMBERSHIP_CHANGED, f"org:{org.name}", by, user=user.name, role=None)


def _keep_an_admin(session: Session, org: Organization, leaving: User) -> None:
    others = session.scalar(
        select(func.count(OrgMember.id)).where(
            OrgMember.org_id == org.id, OrgMember.role == "admin", OrgMember.user_id != leaving.id
        )
    )
    if not others:
        raise Conflict(f"{leaving.name} is the last admin of {org.name}: make another member admin first")


def grant_entity_ids(hub: Hub, grants: tuple[Grant, ...]) -> list[str]:
    """The id of what each grant names (a user, an organization or a repository), "" where it does not exist."""
    ids = []
    with hub.db.session() as session:
        for grant in grants:
            if grant.entity_type in NAMESPACE_ENTITIES:
                table = User if grant.entity_type == "user" else Organization
                found = session.scalar(select(table.id).where(func.lower(table.name) == grant.entity_name.lower()))
            else:
                ref = RepoRef.parse(RepoType(grant.entity_type), grant.entity_name)
                found = session.scalar(select(Repo.id).where(Repo.type == ref.type.value, Repo.id_key == ref.key))
            ids.append("" if found is None else str(found))
    return ids
