"""`visible_repos`, the access policy's SQL form for listings, agrees with `can_see` for every kind of actor.

Runs the condition against a real database (SQLite in memory) holding public and private repositories of users
and an organization, of every type, created by various users, and compares the rows it keeps with what
`can_see` decides for each.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import product

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from modelyard.db.models import Base, Repo
from modelyard.domain.access_scopes import Grant
from modelyard.domain.repo_ids import RepoRef, RepoType
from modelyard.services.access import Target, can_see, visible_repos
from modelyard.services.users import FINE_GRAINED, Actor

NAMESPACES = ("alice", "Acme", "bob")  # Acme is an organization, spelled with a capital by its owner
ALICE, CAROL = 1, 3  # user ids; carol creates repos in acme


def _actor(name: str, role: str, user_id: int = ALICE, **kwargs) -> Actor:
    return Actor(user_id, name, name, "", "token", role, **kwargs)


def _fine_grained(name: str, user_id: int, org_role: str | None, *grants: str, is_admin: bool = False) -> Actor:
    org_roles = {"acme": org_role} if org_role else {}
    parsed = tuple(Grant.parse(grant) for grant in grants)
    return _actor(name, FINE_GRAINED, user_id, org_roles=org_roles, grants=parsed, is_admin=is_admin)


ACTORS: dict[str, Actor | None] = {
    "anonymous": None,
    "user, read token": _actor("alice", "read"),
    "user, write token": _actor("alice", "write"),
    "user spelled otherwise": _actor("ALICE", "write"),
    **{
        f"org {role}": _actor("carol", "write", CAROL, org_roles={"acme": role})
        for role in ("read", "contributor", "write", "admin")
    },
    "org reader, read token": _actor("carol", "read", CAROL, org_roles={"acme": "read"}),
    "fine-grained, own namespace": _fine_grained("alice", ALICE, None, "user:alice=read"),
    "fine-grained, org grant": _fine_grained("carol", CAROL, "read", "org:ACME=write"),
    "fine-grained, org grant but no role": _fine_grained("alice", ALICE, None, "org:acme=read"),
    "fine-grained, one repo": _fine_grained("carol", CAROL, "contributor", "model:Acme/Secret-3=read"),
    "fine-grained, repo of another type": _fine_grained("carol", CAROL, "admin", "dataset:acme/secret-None=read"),
    "fine-grained, someone else's repo": _fine_grained(
        "alice", ALICE, None, "model:bob/secret-1=read", "user:alice=write"
    ),
    "site admin": _actor("root", "write", 9, is_admin=True),
    "site admin, read token": _actor("root", "read", 9, is_admin=True),
    "site admin, fine-grained": _fine_grained("root", 9, None, "user:bob=read", is_admin=True),
}


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    now = datetime.now(UTC)
    with Session(engine) as session:
        for number, (namespace, kind, private, creator) in enumerate(
            product(NAMESPACES, RepoType, (True, False), (ALICE, CAROL, None))
        ):
            name = f"{'secret' if private else 'open'}-{creator}"  # e.g. acme/secret-3, private, created by carol
            session.add(
                Repo(
                    type=kind.value,
                    namespace=namespace,
                    name=name,
                    id_key=f"{namespace}/{name}".lower(),
                    storage_key=f"key{number}",
                    private=private,
                    created_at=now,
                    last_modified=now,
                    creator_id=creator,
                )
            )
        session.flush()
        yield session


def _target(repo: Repo) -> Target:
    ref = RepoRef(RepoType(repo.type), repo.namespace, repo.name)
    return Target(repo.namespace, ref, repo.private, repo.creator_id, gated=False)


@pytest.mark.parametrize("who", ACTORS)
def test_visible_repos_agrees_with_can_see(session: Session, who: str) -> None:
    actor = ACTORS[who]
    repos = session.scalars(select(Repo)).all()
    expected = {repo.id for repo in repos if can_see(actor, _target(repo))}
    listed = set(session.scalars(select(Repo.id).where(visible_repos(actor))))
    assert listed == expected


def test_every_kind_of_actor_but_anonymous_sees_some_private_repos(session: Session) -> None:
    """The actors above are not trivial cases: each one that should sees at least one private repository."""
    private = session.scalars(select(Repo).where(Repo.private)).all()
    for who, actor in ACTORS.items():
        sees_private = any(can_see(actor, _target(repo)) for repo in private)
        assert sees_private == (actor is not None and who != "fine-grained, org grant but no role"), who
