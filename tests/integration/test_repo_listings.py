"""Repository listings (`list_models`, `list_datasets`, `list_spaces`) through huggingface_hub: every way of
asking (author, search, filter, pagination) shows exactly the repos the caller may see, and search returns
exactly the matching ones.

The listings cover the whole session's server, so each test works with repos whose names carry a token of its
own and compares the part of the answer that carries that token.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from huggingface_hub import HfApi
from huggingface_hub.utils import build_hf_headers
from huggingface_hub.utils._pagination import paginate

from helpers import api_prefix
from helpers.orgs import fine_grained_token, make_org, make_person

REPO_TYPES = ("model", "dataset", "space")


@dataclass(frozen=True)
class Listed:
    """Repos made for one repo type: name -> owner and privacy."""

    token: str
    repos: dict[str, tuple[str, bool]]  # repo id -> (owner, private)

    def visible_to(self, user: str | None) -> set[str]:
        return {rid for rid, (owner, private) in self.repos.items() if not private or owner == user}

    def matching(self, user: str | None, fragment: str) -> set[str]:
        return {rid for rid in self.visible_to(user) if fragment.lower() in rid.lower()}


def _list(api: HfApi, repo_type: str, **kwargs) -> list:
    lister = {"model": api.list_models, "dataset": api.list_datasets, "space": api.list_spaces}[repo_type]
    return list(lister(**kwargs))


def _ours(infos, listed: Listed) -> set[str]:
    return {info.id for info in infos if listed.token in info.id}


@pytest.fixture(scope="module", params=REPO_TYPES)
def listed(request, api: HfApi, bob_api: HfApi, alice, bob) -> Listed:
    """For one repo type: public and private repos of alice and bob, two of them sharing the word 'needle'."""
    repo_type = request.param
    token = uuid.uuid4().hex[:10]
    plan = [
        (api, alice.name, f"pub-needle-{token}", False),
        (api, alice.name, f"priv-needle-{token}", True),
        (api, alice.name, f"priv-other-{token}", True),
        (bob_api, bob.name, f"pub-other-{token}", False),
        (bob_api, bob.name, f"priv-Needle-{token}", True),
        (bob_api, bob.name, f"pub-NEEDLE-{token}", False),
    ]
    repos = {}
    for client, owner, name, private in plan:
        rid = f"{owner}/{name}"
        extra = {"space_sdk": "static"} if repo_type == "space" else {}
        client.create_repo(rid, repo_type=repo_type, private=private, **extra)
        repos[rid] = (owner, private)
    return Listed(token, repos)


@pytest.fixture(scope="module")
def callers(api: HfApi, bob_api: HfApi, anon_api: HfApi, alice, bob) -> dict[str | None, HfApi]:
    return {alice.name: api, bob.name: bob_api, None: anon_api}


def test_listing_shows_each_caller_only_what_it_may_see(listed: Listed, callers, alice, bob, request):
    repo_type = request.node.callspec.params["listed"]
    for user, client in callers.items():
        everything = _list(client, repo_type, search=listed.token)
        assert _ours(everything, listed) == listed.visible_to(user), user
        for info in everything:
            if info.id in listed.repos:
                assert info.private == listed.repos[info.id][1], (user, info.id)
        for author in (alice.name, bob.name):
            by_author = _list(client, repo_type, author=author)
            expected = {rid for rid in listed.visible_to(user) if rid.startswith(f"{author}/")}
            assert _ours(by_author, listed) == expected, (user, author)
            assert all(info.id.startswith(f"{author}/") for info in by_author), (user, author)
        # A filter this server does not apply yet must not widen the listing either.
        filtered = _list(client, repo_type, search=listed.token, filter="modelyard-test")
        assert _ours(filtered, listed) <= listed.visible_to(user), user


def test_unfiltered_listing_hides_other_users_private_repos(listed: Listed, callers, request):
    repo_type = request.node.callspec.params["listed"]
    for user, client in callers.items():
        assert _ours(_list(client, repo_type), listed) == listed.visible_to(user), user


def test_search_returns_exactly_the_matching_repos(listed: Listed, callers, alice, request):
    repo_type = request.node.callspec.params["listed"]
    fragment = f"needle-{listed.token}"  # the Hub's search is a case-insensitive substring of the id
    for user, client in callers.items():
        found = _list(client, repo_type, search=fragment)
        assert {info.id for info in found} == listed.matching(user, fragment), user
        both = _list(client, repo_type, search=fragment, author=alice.name)
        alices = {rid for rid in listed.matching(user, fragment) if rid.startswith(f"{alice.name}/")}
        assert {info.id for info in both} == alices, user
    assert _list(callers[None], repo_type, search=f"no-such-{listed.token}") == []


def test_paginated_listing_hides_private_repos_on_every_page(listed: Listed, callers, server, request):
    """One repo per page, following the Link headers with the client's own paginator."""
    repo_type = request.node.callspec.params["listed"]
    path = f"{server.url}/api/{api_prefix(repo_type)}"
    for user, client in callers.items():
        headers = build_hf_headers(token=client.token)
        pages = list(paginate(path, params={"search": listed.token, "limit": 1}, headers=headers))
        ids = [info["id"] for info in pages]
        assert len(ids) == len(set(ids)), user  # no repo twice across pages
        assert set(ids) == listed.visible_to(user), user


@pytest.mark.parametrize("repo_type", REPO_TYPES)
def test_org_listings_show_private_repos_to_members_and_grants_only(server, repo_type):
    """An organization's private repos: listed for its members, and for a fine-grained token only where a grant
    reaches; everyone else's listings (by author, by search, unfiltered) leave them out."""
    admin, reader, outsider = (make_person(server, prefix) for prefix in ("admin", "reader", "outsider"))
    org = make_org(server, admin, {reader.name: "read"})
    token = uuid.uuid4().hex[:10]
    public, private, granted = (f"{org}/{kind}-{token}" for kind in ("pub", "priv", "granted"))
    extra = {"space_sdk": "static"} if repo_type == "space" else {}
    owner = HfApi(token=admin.token)
    for rid in (public, private, granted):
        owner.create_repo(rid, repo_type=repo_type, private=rid != public, **extra)
    fine_grained = fine_grained_token(server, admin.name, f"{repo_type}:{granted}=read")
    expected = {
        admin.token: {public, private, granted},
        reader.token: {public, private, granted},
        fine_grained: {public, granted},
        outsider.token: {public},
        False: {public},
    }
    for client_token, visible in expected.items():
        client = HfApi(token=client_token)
        assert {info.id for info in _list(client, repo_type, author=org)} == visible
        assert {info.id for info in _list(client, repo_type, search=token)} == visible
        assert {info.id for info in _list(client, repo_type) if token in info.id} == visible
