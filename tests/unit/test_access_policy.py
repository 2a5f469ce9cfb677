"""The one access policy (services/access.py), decided from the actor, its token and the target alone."""

from __future__ import annotations

from dataclasses import replace

import pytest

from modelyard.domain.access_scopes import Grant
from modelyard.domain.errors import BadRequest, Forbidden, GatedRepo, RepoNotFound
from modelyard.domain.repo_ids import RepoRef, RepoType
from modelyard.services.access import Action, Target, authorize, can_see
from modelyard.services.users import FINE_GRAINED, Actor

REPO = RepoRef(RepoType.MODEL, "acme", "bert")
OTHER = RepoRef(RepoType.MODEL, "acme", "gpt")
PRIVATE = Target("acme", REPO, private=True, creator_id=7)
PUBLIC = Target("acme", REPO, private=False, creator_id=7)
NAMESPACE = Target("acme")
REPO_ACTIONS = (Action.READ, Action.WRITE, Action.ADMIN)


def actor(role: str = "write", org_role: str | None = None, **kwargs) -> Actor:
    org_roles = {"acme": org_role} if org_role else {}
    return Actor(5, "someone", "Some One", "", "token", role, org_roles=org_roles, **kwargs)


def allowed(who: Actor | None, action: Action, target: Target) -> bool:
    try:
        authorize(who, action, target)
    except (Forbidden, RepoNotFound):
        return False
    return True


@pytest.mark.parametrize(
    ("org_role", "expected"),
    [
        (None, set()),
        ("read", {Action.READ}),
        ("contributor", {Action.READ}),
        ("write", {Action.READ, Action.WRITE}),
        ("admin", {Action.READ, Action.WRITE, Action.ADMIN}),
    ],
)
def test_org_roles_on_a_private_repo(org_role, expected):
    who = actor(org_role=org_role)
    assert {action for action in REPO_ACTIONS if allowed(who, action, PRIVATE)} == expected
    assert can_see(who, PRIVATE) == bool(expected)


def test_refusals_say_what_was_missing():
    reader = actor(org_role="read")
    with pytest.raises(Forbidden, match="must be an admin of the repository acme/bert"):
        authorize(reader, Action.ADMIN, PRIVATE)
    with pytest.raises(Forbidden, match="rights to write in the namespace acme"):
        authorize(reader, Action.WRITE, PRIVATE)
    with pytest.raises(Forbidden, match="admin of the organization acme"):
        authorize(actor(org_role="write"), Action.MANAGE_ORG, NAMESPACE)
    with pytest.raises(Forbidden, match="no write grant for the repository acme/bert"):
        authorize(actor("fineGrained", org_role="admin", grants=(Grant("org", "acme", "read"),)), Action.WRITE, PRIVATE)


def test_contributors_create_repos_and_write_to_their_own():
    contributor = actor(org_role="contributor")
    assert allowed(contributor, Action.CREATE_REPO, NAMESPACE)
    own = Target("acme", REPO, private=True, creator_id=contributor.user_id)
    assert allowed(contributor, Action.WRITE, own) and not allowed(contributor, Action.ADMIN, own)
    assert not allowed(contributor, Action.WRITE, PRIVATE)
    assert not allowed(contributor, Action.MANAGE_ORG, NAMESPACE)


def test_hidden_private_repos_answer_like_missing_and_visible_ones_forbid():
    for who in (None, actor(), actor("read"), actor("fineGrained", grants=(Grant("model", "acme/gpt", "write"),))):
        for action in REPO_ACTIONS:
            with pytest.raises(RepoNotFound):
                authorize(who, action, PRIVATE)
        assert not can_see(who, PRIVATE)
        assert can_see(who, PUBLIC)
        authorize(who, Action.READ, PUBLIC)
        with pytest.raises(Forbidden):
            authorize(who, Action.WRITE, PUBLIC)


def test_read_tokens_only_read_whatever_the_role():
    for who in (actor("read", org_role="admin"), actor("read", is_admin=True)):
        assert allowed(who, Action.READ, PRIVATE)
        for action in (Action.WRITE, Action.ADMIN, Action.CREATE_REPO, Action.MANAGE_ORG):
            with pytest.raises(Forbidden, match="read-only"):
                authorize(who, action, PRIVATE if action in REPO_ACTIONS else NAMESPACE)


def test_site_administrators_can_do_what_owners_can_everywhere():
    admin = actor(is_admin=True)
    for action in REPO_ACTIONS:
        assert allowed(admin, action, PRIVATE)
    assert allowed(admin, Action.CREATE_REPO, NAMESPACE)
    assert allowed(admin, Action.MANAGE_ORG, NAMESPACE)


def test_owners_own_their_namespace_whatever_its_spelling():
    owner = Actor(1, "Acme", "", "", "t", "write")
    for action in REPO_ACTIONS:
        assert allowed(owner, action, PRIVATE)
    assert allowed(owner, Action.CREATE_REPO, NAMESPACE)


@pytest.mark.parametrize(
    ("grant", "on_repo", "on_other"),
    [
        (Grant("model", "acme/bert", "read"), {Action.READ}, set()),
        (Grant("model", "ACME/Bert", "write"), set(REPO_ACTIONS), set()),
        (Grant("dataset", "acme/bert", "write"), set(), set()),  # the type is part of a repository's name
        (Grant("org", "acme", "read"), {Action.READ}, {Action.READ}),
        (Grant("org", "acme", "write"), set(REPO_ACTIONS), set(REPO_ACTIONS)),
        (Grant("user", "someone", "write"), set(), set()),
    ],
)
def test_fine_grained_grants_never_exceed_the_user(grant, on_repo, on_other):
    admin_member = actor("fineGrained", org_role="admin", grants=(grant,))
    assert {action for action in REPO_ACTIONS if allowed(admin_member, action, PRIVATE)} == on_repo
    other = Target("acme", OTHER, private=True)
    assert {action for action in REPO_ACTIONS if allowed(admin_member, action, other)} == on_other
    reader = actor("fineGrained", org_role="read", grants=(grant,))
    assert {action for action in REPO_ACTIONS if allowed(reader, action, PRIVATE)} == on_repo & {Action.READ}


def test_namespace_actions_need_a_namespace_grant():
    repo_only = actor("fineGrained", org_role="write", grants=(Grant("model", "acme/bert", "write"),))
    assert not allowed(repo_only, Action.CREATE_REPO, NAMESPACE)
    org_wide = actor("fineGrained", org_role="write", grants=(Grant("org", "acme", "write"),))
    assert allowed(org_wide, Action.CREATE_REPO, NAMESPACE)


@pytest.mark.parametrize(
    "text",
    ["model:acme/bert", "repo:acme/bert=read", "model:acme=read", "org:acme=admin", "org:a/b=read", "=read", "x"],
)
def test_malformed_grants_are_refused(text):
    with pytest.raises(BadRequest):
        Grant.parse(text)


def test_grants_parse_and_render_as_the_hub_lists_them():
    assert Grant.parse("dataset:acme/data=write") == Grant("dataset", "acme/data", "write")
    assert Grant.parse("org:acme=read").to_hub_json("12") == {
        "entity": {"_id": "12", "type": "org", "name": "acme"},
        "permissions": ["repo.content.read"],
    }


GATED = Target("acme", REPO, private=False, creator_id=7, gated=True)


def test_a_gated_repo_shows_its_metadata_and_gates_its_files():
    outsider = actor(org_role=None)
    assert allowed(outsider, Action.READ, GATED)
    assert allowed(None, Action.READ, GATED)
    for who in (outsider, None):
        with pytest.raises(GatedRepo):
            authorize(who, Action.DOWNLOAD, GATED)
    assert allowed(outsider, Action.DOWNLOAD, PUBLIC)


def test_members_site_admins_and_accepted_users_pass_the_gate():
    assert allowed(actor(org_role="read"), Action.DOWNLOAD, GATED)
    assert allowed(actor(org_role=None, is_admin=True), Action.DOWNLOAD, GATED)
    granted = replace(GATED, access_request="accepted")
    assert allowed(actor(org_role=None), Action.DOWNLOAD, granted)
    assert allowed(actor("read", org_role=None), Action.DOWNLOAD, granted)
    # A fine-grained token acts only where its grants reach, even for a user whose request was accepted.
    elsewhere = actor(FINE_GRAINED, org_role=None, grants=(Grant.parse("model:acme/gpt=read"),))
    with pytest.raises(GatedRepo):
        authorize(elsewhere, Action.DOWNLOAD, granted)


@pytest.mark.parametrize(("status", "words"), [("pending", "awaiting a review"), ("rejected", "rejected")])
def test_the_gated_answer_says_where_the_request_stands(status, words):
    with pytest.raises(GatedRepo, match=words):
        authorize(actor(org_role=None), Action.DOWNLOAD, replace(GATED, access_request=status))


def test_a_private_gated_repo_still_answers_like_a_missing_one():
    with pytest.raises(RepoNotFound):
        authorize(actor(org_role=None), Action.DOWNLOAD, replace(GATED, private=True))


def test_a_covering_fine_grained_read_grant_passes_an_accepted_gate():
    granted = replace(GATED, access_request="accepted")
    covering = actor(FINE_GRAINED, org_role=None, grants=(Grant.parse("model:acme/bert=read"),))
    assert allowed(covering, Action.DOWNLOAD, granted)


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (actor("write", org_role=None), True),  # anyone with a write token may contribute to a public repository
        (actor(FINE_GRAINED, org_role=None, grants=(Grant.parse("model:acme/bert=write"),)), True),
        (actor("read", org_role=None), False),
        (actor(FINE_GRAINED, org_role=None, grants=(Grant.parse("model:acme/bert=read"),)), False),
        (actor(FINE_GRAINED, org_role=None, grants=(Grant.parse("model:acme/gpt=write"),)), False),
        (None, False),
    ],
)
def test_contributing_needs_a_visible_repository_and_a_token_that_may_act_there(who, expected):
    assert allowed(who, Action.CONTRIBUTE, PUBLIC) == expected
    assert not allowed(who, Action.CONTRIBUTE, PRIVATE)  # none of them can see it


def test_a_refused_contribution_says_which_token_is_lacking():
    with pytest.raises(Forbidden, match="no write grant for the repository acme/bert"):
        authorize(actor(FINE_GRAINED, grants=(Grant.parse("model:acme/bert=read"),)), Action.CONTRIBUTE, PUBLIC)
    with pytest.raises(Forbidden, match="read-only"):
        authorize(actor("read"), Action.CONTRIBUTE, PUBLIC)
