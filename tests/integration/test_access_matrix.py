"""The authorization matrix: every route of the app's own route table x every kind of actor x {public, private}
-> the expected answer, over HTTP against the live server.

Repositories live in an organization. For a route acting on one repository, the expected answer follows from
the access level the actor has on it (ACTOR_LEVEL, written out here, never computed by the server's policy)
and the level the route needs: allowed -> the route's own success answer; not allowed on a repository the
actor cannot see -> exactly what the same actor gets for a missing repository (status, X-Error-Code and body);
not allowed on one it can see -> 403 (401 without credentials). Routes that act on no repository have their
answer per actor written out.

Adding a route without adding its row here fails `test_every_route_has_a_row`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import httpx
import pytest

from helpers import LFS_CONTENT_TYPE
from helpers.orgs import Person, fine_grained_token, make_org, make_person


class Level(IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2
    ADMIN = 3


ACTORS = (
    "anonymous",
    "read-token",  # a read token of the organization's admin
    "other-user",  # a write token of a user outside the organization
    "member-read",
    "member-write",
    "member-admin",
    "fine-grained-other-repo",  # the admin's token, with write on another repository only
    "fine-grained-read-this",  # the admin's token, with read on the repositories under test only
    "site-admin",  # a site administrator's write token; not a member of the organization
)
# Each actor's level on the repositories under test (whatever their visibility) and on the organization itself.
ACTOR_LEVEL = {
    "anonymous": Level.NONE,
    "read-token": Level.READ,
    "other-user": Level.NONE,
    "member-read": Level.READ,
    "member-write": Level.WRITE,
    "member-admin": Level.ADMIN,
    "fine-grained-other-repo": Level.NONE,
    "fine-grained-read-this": Level.READ,
    "site-admin": Level.ADMIN,
}
ORG_LEVEL = {**ACTOR_LEVEL, "fine-grained-read-this": Level.NONE}
# Contributing (opening discussions and pull requests, commenting, committing to a pull request) needs only to see
# the repository, with a token that may act there: the write role, or a fine-grained write grant covering it.
CONTRIBUTE = "contribute"
TOKEN_MAY_ACT = {
    "anonymous": False,
    "read-token": False,
    "other-user": True,
    "member-read": True,
    "member-write": True,
    "member-admin": True,
    "fine-grained-other-repo": False,
    "fine-grained-read-this": False,
    "site-admin": True,
}
REPO_TYPES = ("model", "dataset", "space")
# Visibilities under test; gated models only (the gate is the same code for every type): nobody has been granted
# access to the first, "other-user" to the second.
KINDS = ("public", "private", "gated", "gated-granted")
GATED_TYPES = ("model",)
GRANTED = "other-user"
# Downloading (resolve, LFS download batch, Xet read token, git fetch) needs read, and on a gated repository a read
# level there or an accepted access request; the others get the Hub's gated error.
DOWNLOAD = "download"
PLURAL = {"model": "models", "dataset": "datasets", "space": "spaces"}
WEB_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
FILE = "dir/a.txt"


@dataclass(frozen=True)
class Repo:
    type: str
    id: str
    pk: int
    private: bool
    gated: bool = False
    granted: bool = False  # GRANTED's access request was accepted

    @property
    def api(self) -> str:
        return f"/api/{PLURAL[self.type]}/{self.id}"

    @property
    def web(self) -> str:
        return f"/{WEB_PREFIX[self.type]}{self.id}"


@dataclass(frozen=True)
class Probe:
    path: str
    json: Any = None
    content: bytes | None = None
    data: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RepoRow:
    """A route acting on the repository in its path: needs `need`; when allowed answers `ok` (status[, code])."""

    need: Level | str  # a level, CONTRIBUTE or DOWNLOAD
    probe: Callable[[Repo], Probe]
    ok: int | tuple[int, str]
    types: tuple[str, ...] = REPO_TYPES  # the repository types the route serves


@dataclass(frozen=True)
class ActorRow:
    """A route acting on no repository of the path: the status each actor gets (`expected(actor)`)."""

    probe: Callable[[World], Probe]
    expected: Callable[[str], int]


@dataclass(frozen=True)
class World:
    server_url: str
    org: str
    repos: dict[tuple[str, str], Repo]  # (type, kind) -> repo
    tokens: dict[str, str | None]
    extra_member: str
    admin: Person

    def client(self, actor: str) -> httpx.Client:
        token = self.tokens[actor]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.server_url, headers=headers, timeout=60)

    def missing(self, repo: Repo) -> Repo:
        return Repo(repo.type, f"{self.org}/missing-{repo.type}", 999_999_999, repo.private)


def _unique(prefix: str = "m") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# ---- repository routes, by (path template, methods) ----------------------------------------------------------
def _lfs(repo: Repo, tail: str, body: dict[str, Any]) -> Probe:
    return Probe(f"{repo.web}.git/info/lfs/objects/{tail}", content=_json_bytes(body), headers=LFS_HEADERS)


def _json_bytes(body: dict[str, Any]) -> bytes:
    import json

    return json.dumps(body).encode()


LFS_HEADERS = {"Accept": LFS_CONTENT_TYPE, "Content-Type": LFS_CONTENT_TYPE}
UPLOAD_PACK = {"Content-Type": "application/x-git-upload-pack-request"}
RECEIVE_PACK = {"Content-Type": "application/x-git-receive-pack-request"}
MISSING_REVISION = (404, "RevisionNotFound")
A = "/api/{repo_type}/{namespace}/{name}"

REPO_ROWS: dict[str, RepoRow | tuple[RepoRow, ...]] = {
    f"GET {A}": RepoRow(Level.READ, lambda r: Probe(r.api), 200),
    f"GET {A}/revision/{{revision:path}}": RepoRow(Level.READ, lambda r: Probe(f"{r.api}/revision/main"), 200),
    f"GET {A}/auth-check": RepoRow(Level.READ, lambda r: Probe(f"{r.api}/auth-check"), 200),
    f"GET {A}/auth-check/write": RepoRow(Level.WRITE, lambda r: Probe(f"{r.api}/auth-check/write"), 200),
    f"PUT {A}/settings": RepoRow(Level.ADMIN, lambda r: Probe(f"{r.api}/settings", json={}), 200),
    f"GET {A}/lfs-files": RepoRow(Level.WRITE, lambda r: Probe(f"{r.api}/lfs-files"), 200),
    f"POST {A}/lfs-files/batch": RepoRow(
        Level.WRITE, lambda r: Probe(f"{r.api}/lfs-files/batch", json={"deletions": {"sha": []}}), 200
    ),
    # The copy's target is the repository itself: reading the source and writing the target.
    f"POST {A}/lfs-files/duplicate": RepoRow(
        Level.WRITE,
        lambda r: Probe(f"{r.api}/lfs-files/duplicate", json={"target": {"type": r.type, "name": r.id}, "files": []}),
        200,
    ),
    f"GET {A}/tree/{{revision}}/{{path:path}}": RepoRow(Level.READ, lambda r: Probe(f"{r.api}/tree/main/dir"), 200),
    f"GET {A}/tree/{{revision}}": RepoRow(Level.READ, lambda r: Probe(f"{r.api}/tree/main"), 200),
    f"POST {A}/paths-info/{{revision}}": RepoRow(
        Level.READ, lambda r: Probe(f"{r.api}/paths-info/main", data={"paths": [FILE]}), 200
    ),
    "GET /api/models/{namespace}/{name}/model-tree": RepoRow(
        Level.READ, lambda r: Probe(f"{r.api}/model-tree"), 200, ("model",)
    ),
    f"GET {A}/refs": RepoRow(Level.READ, lambda r: Probe(f"{r.api}/refs"), 200),
    f"GET {A}/commits/{{revision}}": RepoRow(Level.READ, lambda r: Probe(f"{r.api}/commits/main"), 200),
    f"POST {A}/branch/{{branch}}": RepoRow(
        Level.WRITE, lambda r: Probe(f"{r.api}/branch/{_unique('b')}", json={}), 200
    ),
    f"DELETE {A}/branch/{{branch}}": RepoRow(Level.WRITE, lambda r: Probe(f"{r.api}/branch/no-such"), MISSING_REVISION),
    f"POST {A}/super-squash/{{branch}}": RepoRow(
        Level.WRITE, lambda r: Probe(f"{r.api}/super-squash/no-such", json={}), MISSING_REVISION
    ),
    f"POST {A}/tag/{{revision}}": RepoRow(
        Level.WRITE, lambda r: Probe(f"{r.api}/tag/main", json={"tag": _unique("t")}), 200
    ),
    f"DELETE {A}/tag/{{tag}}": RepoRow(Level.WRITE, lambda r: Probe(f"{r.api}/tag/no-such"), MISSING_REVISION),
    # Commits and preuploads are contributions at the door (a pull request takes them from non-writers, see
    # tests/integration/test_discussions.py); to a branch, as here, they need write.
    f"POST {A}/preupload/{{revision}}": RepoRow(
        Level.WRITE, lambda r: Probe(f"{r.api}/preupload/main", json={"files": []}), 200
    ),
    f"POST {A}/commit/{{revision}}": RepoRow(
        Level.WRITE,
        lambda r: Probe(
            f"{r.api}/commit/main", content=b"not json\n", headers={"Content-Type": "application/x-ndjson"}
        ),
        400,
    ),
    f"GET {A}/xet-read-token/{{revision}}": RepoRow(DOWNLOAD, lambda r: Probe(f"{r.api}/xet-read-token/main"), 200),
    f"GET {A}/xet-write-token/{{revision}}": RepoRow(CONTRIBUTE, lambda r: Probe(f"{r.api}/xet-write-token/main"), 200),
    f"GET {A}/storage": RepoRow(Level.READ, lambda r: Probe(f"{r.api}/storage"), 200),
    # A like is the user's own act on a repository they can see, taken like a contribution (routes_likes.py).
    f"POST {A}/like": RepoRow(CONTRIBUTE, lambda r: Probe(f"{r.api}/like"), 200),
    f"DELETE {A}/like": RepoRow(CONTRIBUTE, lambda r: Probe(f"{r.api}/like"), 200),
    f"GET {A}/likers": RepoRow(Level.READ, lambda r: Probe(f"{r.api}/likers"), 200),
    # Discussion #1 of every repository under test is the organization admin's (the world fixture opens it).
    f"GET {A}/discussions": RepoRow(Level.READ, lambda r: Probe(f"{r.api}/discussions"), 200),
    f"POST {A}/discussions": RepoRow(
        CONTRIBUTE, lambda r: Probe(f"{r.api}/discussions", json={"title": "A question", "description": "?"}), 200
    ),
    f"GET {A}/discussions/{{num}}": RepoRow(Level.READ, lambda r: Probe(f"{r.api}/discussions/1"), 200),
    f"POST {A}/discussions/{{num}}/comment": RepoRow(
        CONTRIBUTE, lambda r: Probe(f"{r.api}/discussions/1/comment", json={"comment": "+1"}), 200
    ),
    # Renaming and closing another's thread needs write (the author may too: the admin, seen at their level).
    f"POST {A}/discussions/{{num}}/title": RepoRow(
        Level.WRITE, lambda r: Probe(f"{r.api}/discussions/1/title", json={"title": _unique("title")}), 200
    ),
    f"POST {A}/discussions/{{num}}/status": RepoRow(
        Level.WRITE, lambda r: Probe(f"{r.api}/discussions/1/status", json={"status": "bogus"}), 400
    ),
    f"POST {A}/discussions/{{num}}/merge": RepoRow(Level.WRITE, lambda r: Probe(f"{r.api}/discussions/1/merge"), 400),
    f"POST {A}/discussions/{{num}}/comment/{{comment_id}}/edit": RepoRow(
        CONTRIBUTE,
        lambda r: Probe(f"{r.api}/discussions/1/comment/{'0' * 24}/edit", json={"content": "edited"}),
        404,
    ),
    f"POST {A}/discussions/{{num}}/comment/{{comment_id}}/hide": RepoRow(
        CONTRIBUTE, lambda r: Probe(f"{r.api}/discussions/1/comment/{'0' * 24}/hide"), 404
    ),
    # Asking for access records a request (a read token may not); an empty form is refused (400): a repository
    # that is not gated takes no requests, a gated one under test requires its card's checkbox.
    f"POST {A}/ask-access": RepoRow(CONTRIBUTE, lambda r: Probe(f"{r.api}/ask-access", json={}), 400),
    f"GET {A}/user-access-request/{{status}}": RepoRow(
        Level.ADMIN, lambda r: Probe(f"{r.api}/user-access-request/pending"), 200
    ),
    f"POST {A}/user-access-request/handle": RepoRow(
        Level.ADMIN, lambda r: Probe(f"{r.api}/user-access-request/handle", json={"status": "bogus"}), 400
    ),
    f"POST {A}/user-access-request/grant": RepoRow(
        Level.ADMIN, lambda r: Probe(f"{r.api}/user-access-request/grant", json={}), 400
    ),
    # The repositories under test hold no weights: the estimate has nothing to go on, the index file is missing.
    "GET /api/models/{namespace}/{name}/memory": RepoRow(
        Level.READ, lambda r: Probe(f"{r.api}/memory", params={"gpu_memory_gb": "24"}), (404, "NotFound"), ("model",)
    ),
    # A header is the file's own bytes: reading it is downloading.
    "GET /api/models/{namespace}/{name}/safetensors-metadata/{path:path}": RepoRow(
        DOWNLOAD,
        lambda r: Probe(f"{r.api}/safetensors-metadata/model.safetensors.index.json"),
        (404, "EntryNotFound"),
        ("model",),
    ),
}
for _type in REPO_TYPES:
    _web = "/" + WEB_PREFIX[_type] + "{namespace}/{name}"
    _only = (_type,)
    REPO_ROWS |= {
        # Entering the batch API needs read; an upload batch is contributing (the service checks the operation).
        f"POST {_web}.git/info/lfs/objects/batch": (
            RepoRow(DOWNLOAD, lambda r: _lfs(r, "batch", {"operation": "download", "objects": []}), 200, _only),
            RepoRow(CONTRIBUTE, lambda r: _lfs(r, "batch", {"operation": "upload", "objects": []}), 200, _only),
        ),
        f"POST {_web}.git/info/lfs/objects/verify": RepoRow(
            CONTRIBUTE, lambda r: _lfs(r, "verify", {"oid": "0" * 64, "size": 1}), 404, _only
        ),
        # info/refs is where git learns whether it may push: the service decides the action.
        f"GET {_web}/info/refs": (
            RepoRow(DOWNLOAD, lambda r: Probe(f"{r.web}/info/refs", params={"service": "git-upload-pack"}), 200, _only),
            RepoRow(
                Level.WRITE, lambda r: Probe(f"{r.web}/info/refs", params={"service": "git-receive-pack"}), 200, _only
            ),
        ),
        f"POST {_web}/git-upload-pack": RepoRow(
            DOWNLOAD, lambda r: Probe(f"{r.web}/git-upload-pack", content=b"0000", headers=UPLOAD_PACK), 200, _only
        ),
        f"POST {_web}/git-receive-pack": RepoRow(
            Level.WRITE, lambda r: Probe(f"{r.web}/git-receive-pack", content=b"0000", headers=RECEIVE_PACK), 200, _only
        ),
        f"GET {_web}/resolve/{{revision}}/{{path:path}}": RepoRow(
            DOWNLOAD, lambda r: Probe(f"{r.web}/resolve/main/{FILE}"), 200, _only
        ),
    }


# ---- routes whose answer does not depend on the repository: the same for every actor and visibility --------
def _everyone(status: int) -> Callable[[str], int]:
    return lambda actor: status


def _authenticated(status: int) -> Callable[[str], int]:
    return lambda actor: 401 if actor == "anonymous" else status


def _org_level(need: Level, ok: int, denied: int = 403) -> Callable[[str], int]:
    def expected(actor: str) -> int:
        if ORG_LEVEL[actor] >= need:
            return ok
        return 401 if actor == "anonymous" else denied

    return expected


HEX = "0" * 64
SIGNED = {"size": "1", "exp": "9999999999", "sig": "forged"}
LOCKS = "0000"


def _locks(prefix: str, tail: str) -> Callable[[World], Probe]:
    return lambda w: Probe(f"/{prefix}{w.org}/any.git/info/lfs/locks{tail}", json={})


ACTOR_ROWS: dict[str, ActorRow] = {
    "GET /api/health": ActorRow(lambda w: Probe("/api/health"), _everyone(200)),
    "GET /api/whoami-v2": ActorRow(lambda w: Probe("/api/whoami-v2"), _authenticated(200)),
    "POST /api/validate-yaml": ActorRow(
        lambda w: Probe("/api/validate-yaml", json={"content": "# card\n"}), _everyone(200)
    ),
    "GET /api/agent-harnesses": ActorRow(lambda w: Probe("/api/agent-harnesses"), _everyone(200)),
    "GET /api/organizations": ActorRow(lambda w: Probe("/api/organizations"), _everyone(200)),
    # Creating an organization changes the caller's own account: any write token of a user may.
    "POST /api/organizations/create": ActorRow(
        lambda w: Probe("/api/organizations/create", json={"name": _unique("neworg")}),
        lambda actor: {"anonymous": 401, "read-token": 403}.get(actor, 403 if actor.startswith("fine") else 200),
    ),
    "GET /api/organizations/{org}/overview": ActorRow(
        lambda w: Probe(f"/api/organizations/{w.org}/overview"), _everyone(200)
    ),
    "GET /api/organizations/{org}/members": ActorRow(
        lambda w: Probe(f"/api/organizations/{w.org}/members"), _everyone(200)
    ),
    "PUT /api/organizations/{org}/members/{user}": ActorRow(
        lambda w: Probe(f"/api/organizations/{w.org}/members/{w.extra_member}", json={"role": "read"}),
        _org_level(Level.ADMIN, 200),
    ),
    "DELETE /api/organizations/{org}/members/{user}": ActorRow(
        lambda w: Probe(f"/api/organizations/{w.org}/members/no-such-user-{w.org}"),
        _org_level(Level.ADMIN, 404),
    ),
    "GET /api/admin/audit": ActorRow(
        lambda w: Probe("/api/admin/audit"), lambda actor: {"anonymous": 401, "site-admin": 200}.get(actor, 403)
    ),
    "GET /api/settings/tokens": ActorRow(lambda w: Probe("/api/settings/tokens"), _authenticated(200)),
    # Revoking one's own token needs a write token; no token has this id.
    "DELETE /api/settings/tokens/{token_id}": ActorRow(
        lambda w: Probe("/api/settings/tokens/999999999"),
        lambda actor: {"anonymous": 401, "read-token": 403}.get(actor, 403 if actor.startswith("fine") else 404),
    ),
    "GET /api/users/{user}/overview": ActorRow(lambda w: Probe(f"/api/users/{w.admin.name}/overview"), _everyone(200)),
    # Public, listing only the liked repositories the caller can see (tests/integration/test_popularity.py).
    "GET /api/users/{user}/likes": ActorRow(lambda w: Probe(f"/api/users/{w.admin.name}/likes"), _everyone(200)),
    "GET /api/storage": ActorRow(lambda w: Probe("/api/storage"), _authenticated(200)),
    "GET /api/settings/repositories": ActorRow(lambda w: Probe("/api/settings/repositories"), _authenticated(200)),
    # Where the user may read; a fine-grained token lists only the repositories its grants reach.
    "GET /api/organizations/{namespace}/settings/repositories": ActorRow(
        lambda w: Probe(f"/api/organizations/{w.org}/settings/repositories"),
        lambda actor: {"anonymous": 401, "other-user": 404}.get(actor, 200),
    ),
    "GET /api/{repo_type}": ActorRow(lambda w: Probe("/api/models", params={"author": w.org}), _everyone(200)),
    "POST /api/repos/create": ActorRow(
        lambda w: Probe("/api/repos/create", json={"name": _unique("created"), "organization": w.org}),
        _org_level(Level.WRITE, 200),
    ),
    # Xet CAS routes take CAS tokens (from xet-read/write-token), never a hub token.
    "GET /xet-cas/v1/chunks/{prefix}/{chunk_hash}": ActorRow(
        lambda w: Probe(f"/xet-cas/v1/chunks/default/{HEX}"), _everyone(401)
    ),
    "POST /xet-cas/v1/xorb-grants/{prefix}/{xorb_hash}": ActorRow(
        lambda w: Probe(f"/xet-cas/v1/xorb-grants/default/{HEX}"), _everyone(401)
    ),
    "POST /xet-cas/v1/xorbs/{prefix}/{xorb_hash}": ActorRow(
        lambda w: Probe(f"/xet-cas/v1/xorbs/default/{HEX}"), _everyone(401)
    ),
    "HEAD /xet-cas/v1/xorbs/{prefix}/{xorb_hash}": ActorRow(
        lambda w: Probe(f"/xet-cas/v1/xorbs/default/{HEX}"), _everyone(401)
    ),
    "POST /xet-cas/v2/shards": ActorRow(lambda w: Probe("/xet-cas/v2/shards"), _everyone(401)),
    "POST /xet-cas/v1/shards": ActorRow(lambda w: Probe("/xet-cas/v1/shards"), _everyone(401)),
    "GET /xet-cas/v2/reconstructions/{file_hash}": ActorRow(
        lambda w: Probe(f"/xet-cas/v2/reconstructions/{HEX}"), _everyone(401)
    ),
    "GET /xet-cas/v1/reconstructions/{file_hash}": ActorRow(
        lambda w: Probe(f"/xet-cas/v1/reconstructions/{HEX}"), _everyone(401)
    ),
    "POST /v1/telemetry": ActorRow(lambda w: Probe("/v1/telemetry"), _everyone(204)),
    # Signed URLs authorize themselves: a hub token adds nothing to a forged signature.
    "GET /xet-cas/v1/fetch/{xorb_hash}": ActorRow(
        lambda w: Probe(f"/xet-cas/v1/fetch/{HEX}", params={"r": "0-1", "exp": "9999999999", "sig": "x"}),
        _everyone(403),
    ),
    "PUT /api/lfs/{repo_pk}/{oid}": ActorRow(lambda w: _signed(w, ""), _everyone(403)),
    "PUT /api/lfs/{repo_pk}/{oid}/part/{part}": ActorRow(lambda w: _signed(w, "/part/1"), _everyone(403)),
    "POST /api/lfs/{repo_pk}/{oid}/complete": ActorRow(lambda w: _signed(w, "/complete"), _everyone(403)),
    "GET /api/lfs/{repo_pk}/{oid}": ActorRow(lambda w: _signed(w, ""), _everyone(403)),
}
for _type in REPO_TYPES:
    _locks_path = "/" + WEB_PREFIX[_type] + "{namespace}/{name}.git/info/lfs/locks"
    # Locking is not supported: the same 501 for every repository, missing and private ones included.
    ACTOR_ROWS |= {
        f"GET {_locks_path}": ActorRow(_locks(WEB_PREFIX[_type], ""), _everyone(501)),
        f"POST {_locks_path}": ActorRow(_locks(WEB_PREFIX[_type], ""), _everyone(501)),
        f"POST {_locks_path}/verify": ActorRow(_locks(WEB_PREFIX[_type], "/verify"), _everyone(501)),
        f"POST {_locks_path}/{{lock_id}}/unlock": ActorRow(_locks(WEB_PREFIX[_type], "/1/unlock"), _everyone(501)),
    }


def _signed(world: World, tail: str) -> Probe:
    private = world.repos[("model", "private")]
    return Probe(f"/api/lfs/{private.pk}/{HEX}{tail}", params=SIGNED, content=b"{}")


# Routes naming the repository in the body: delete and move need admin on it (plus creating in the target).
BODY_ROWS = {
    "DELETE /api/repos/delete": Level.ADMIN,
    "POST /api/repos/move": Level.ADMIN,
}


# ---- the world the matrix runs in ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(server) -> World:
    from huggingface_hub import CommitOperationAdd, HfApi

    admin, reader, writer, other, extra, site_admin = (
        make_person(server, prefix) for prefix in ("admin", "reader", "writer", "other", "extra", "site-admin")
    )
    server.admin("make-admin", site_admin.name)
    org = make_org(server, admin, {reader.name: "read", writer.name: "write", extra.name: "read"})
    api = HfApi(endpoint=server.url, token=admin.token)
    repos = {}
    for repo_type in REPO_TYPES:
        for kind in KINDS:
            if kind.startswith("gated") and repo_type not in GATED_TYPES:
                continue
            name = f"{repo_type}-{kind}"
            private = kind == "private"
            body = {"name": name, "organization": org, "type": repo_type, "private": private}
            if repo_type == "space":
                body["sdk"] = "static"
            created = httpx.post(f"{server.url}/api/repos/create", json=body, headers=_bearer(admin.token))
            assert created.status_code == 200, created.text
            gated, granted = kind.startswith("gated"), kind == "gated-granted"
            repo = Repo(repo_type, f"{org}/{name}", int(created.json()["id"]), private, gated, granted)
            files = [CommitOperationAdd(FILE, b"content\n")]
            if gated:
                files.append(CommitOperationAdd("README.md", GATED_CARD))
            api.create_commit(repo.id, files, commit_message="add", repo_type=repo_type)
            if gated:
                api.update_repo_settings(repo.id, gated="manual", repo_type=repo_type)
            if granted:
                api.grant_access(repo.id, other.name, repo_type=repo_type)
            opened = httpx.post(
                f"{server.url}{repo.api}/discussions",
                json={"title": "Discussion one", "description": "The matrix's thread"},
                headers=_bearer(admin.token),
            )
            assert opened.status_code == 200 and opened.json()["num"] == 1, opened.text
            repos[(repo_type, kind)] = repo
    api.create_repo(f"{org}/other", private=True)
    this = [f"{repo.type}:{repo.id}=read" for repo in repos.values()]
    tokens = {
        "anonymous": None,
        "read-token": server.create_token(admin.name, "read"),
        "other-user": other.token,
        "member-read": reader.token,
        "member-write": writer.token,
        "member-admin": admin.token,
        "fine-grained-other-repo": fine_grained_token(server, admin.name, f"model:{org}/other=write"),
        "fine-grained-read-this": fine_grained_token(server, admin.name, *this),
        "site-admin": site_admin.token,
    }
    return World(server.url, org, repos, tokens, extra.name, admin)


GATED_CARD = b"---\nextra_gated_fields:\n  I agree: checkbox\n---\n"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _send(client: httpx.Client, method: str, probe: Probe) -> httpx.Response:
    return client.request(
        method,
        probe.path,
        json=probe.json,
        content=probe.content,
        data=probe.data,
        headers=probe.headers,
        params=probe.params,
    )


def _answer(response: httpx.Response) -> tuple[int, str | None, bytes]:
    return response.status_code, response.headers.get("x-error-code"), response.content


# ---- the route table ----------------------------------------------------------------------------------------
def _app_routes() -> list[tuple[str, str, Any]]:
    """(method, path template, route) for every route of the app; HEAD only where it is the route's only method."""
    import tempfile

    from modelyard.api.openapi import api_routes
    from modelyard.app import create_app
    from modelyard.config import Settings

    app = create_app(Settings(data_dir=tempfile.mkdtemp(prefix="modelyard-matrix-")))
    found = []
    for route in api_routes(app.routes):
        methods = route.methods - {"HEAD"} or {"HEAD"}
        found.extend((method, route.path, route) for method in sorted(methods))
    return found


ROUTES = _app_routes()
# `/datasets/{name}/...` twins are shadowed: `datasets/gpt2` names a model of the namespace `datasets` there, which
# the model routes (checked above) answer.
BARE_ID_TWINS = [
    (method, path)
    for method, path, route in ROUTES
    if route.name == "_missing_repo" and not path.startswith(("/datasets/{name}", "/spaces/{name}"))
]
ROWED = [(method, path) for method, path, route in ROUTES if route.name != "_missing_repo"]


def _rows(key: str) -> tuple[RepoRow, ...]:
    row = REPO_ROWS[key]
    return row if isinstance(row, tuple) else (row,)


def _head_too(method: str, path: str) -> list[str]:
    heads = any(p == path and "HEAD" in route.methods for m, p, route in ROUTES if m == method)
    return [method, "HEAD"] if method == "GET" and heads else [method]


def test_every_route_has_a_row():
    keys = {f"{method} {path}" for method, path in ROWED}
    known = set(REPO_ROWS) | set(ACTOR_ROWS) | set(BODY_ROWS)
    assert sorted(keys - known) == [], "routes without a row in the authorization matrix"
    assert sorted(known - keys) == [], "rows for routes that do not exist"
    assert BARE_ID_TWINS, "the {name}-only twins of repository routes are part of the table"


def _expected_repo_answer(row: RepoRow, actor: str, repo: Repo) -> str:
    level = ACTOR_LEVEL[actor]
    if row.need == DOWNLOAD:
        if repo.private and level < Level.READ:
            return "missing"
        passes_gate = not repo.gated or level >= Level.READ or (repo.granted and actor == GRANTED)
        return "ok" if passes_gate else "gated"
    if row.need == CONTRIBUTE:
        if repo.private and level < Level.READ:
            return "missing"
        return "ok" if TOKEN_MAY_ACT[actor] else "forbidden"
    if level >= row.need or (row.need is Level.READ and not repo.private):
        return "ok"
    if repo.private and level < Level.READ:
        return "missing"
    return "forbidden"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("actor", ACTORS)
def test_repository_routes(world: World, actor: str, kind: str):
    failures = []
    with world.client(actor) as client:
        for key in REPO_ROWS:
            method, _, _ = key.partition(" ")
            path = key.split(" ", 1)[1]
            for row in _rows(key):
                for repo_type in row.types:
                    repo = world.repos.get((repo_type, kind))
                    if repo is None:
                        continue
                    expected = _expected_repo_answer(row, actor, repo)
                    for verb in _head_too(method, path):
                        got = _send(client, verb, row.probe(repo))
                        problem = _check(client, verb, row, repo, world, expected, got)
                        if problem:
                            failures.append(f"{verb} {row.probe(repo).path} ({key}): {problem}")
    assert failures == [], "\n".join(failures)


def _check(
    client: httpx.Client, verb: str, row: RepoRow, repo: Repo, world: World, expected: str, got: httpx.Response
) -> str | None:
    status, code, body = _answer(got)
    if expected == "ok":
        ok_status, ok_code = row.ok if isinstance(row.ok, tuple) else (row.ok, None)
        if status != ok_status or (ok_code and code != ok_code):
            return f"expected {row.ok} (allowed), got {status} {code} {body[:200]!r}"
        return None
    if expected == "gated":
        wanted = 401 if client.headers.get("authorization") is None else 403
        # git answers in its own terms (a 401 challenge, a 403 text); every other route with the Hub's code.
        wanted_code = (
            None if "/info/refs" in got.request.url.path or "git-upload-pack" in got.request.url.path else "GatedRepo"
        )
        if (status, code) != (wanted, wanted_code):
            return f"expected the gated answer {wanted} {wanted_code}, got {status} {code} {body[:200]!r}"
        return None
    if expected == "forbidden":
        wanted = 401 if client.headers.get("authorization") is None else 403
        return (
            None
            if status == wanted
            else f"expected {wanted} (visible, not allowed), got {status} {code} {body[:200]!r}"
        )
    missing = _answer(_send(client, verb, row.probe(world.missing(repo))))
    if (status, code, body) != missing:
        return (
            f"expected the missing-repo answer {missing[:2]} {missing[2][:120]!r}, got {status} {code} {body[:200]!r}"
        )
    return None


@pytest.mark.parametrize("actor", ACTORS)
def test_routes_acting_on_no_repository(world: World, actor: str):
    failures = []
    with world.client(actor) as client:
        for key, row in ACTOR_ROWS.items():
            method, path = key.split(" ", 1)
            expected = row.expected(actor)
            for verb in _head_too(method, path):
                got = _send(client, verb, row.probe(world))
                if got.status_code != expected:
                    failures.append(f"{verb} {key}: expected {expected}, got {got.status_code} {got.content[:200]!r}")
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("private", [False, True], ids=["public", "private"])
@pytest.mark.parametrize("actor", ACTORS)
def test_repositories_named_in_the_body(world: World, server, actor: str, private: bool):
    """Deleting and moving need admin on the repository; who may not gets what a missing repository gets, unless
    it can see the repository (403). Who may acts on a copy, so that the repositories under test stay."""
    level = ACTOR_LEVEL[actor]
    failures = []
    with world.client(actor) as client:
        for key, need in BODY_ROWS.items():
            method, _ = key.split(" ", 1)
            for repo_type in REPO_TYPES:
                repo = world.repos[(repo_type, "private" if private else "public")]
                allowed = level >= need
                if allowed:
                    repo = _throwaway(world, repo)
                got = _send(client, method, _body_probe(key, repo, world))
                status, code, body = _answer(got)
                if allowed:
                    problem = None if status == 200 else f"expected 200, got {status} {body[:200]!r}"
                elif private and level < Level.READ:
                    missing = _answer(_send(client, method, _body_probe(key, world.missing(repo), world)))
                    problem = None if (status, code, body) == missing else f"expected {missing}, got {status} {code}"
                else:
                    wanted = 401 if actor == "anonymous" else 403
                    problem = None if status == wanted else f"expected {wanted}, got {status} {body[:200]!r}"
                if problem:
                    failures.append(f"{key} {repo.id}: {problem}")
    assert failures == [], "\n".join(failures)


def _body_probe(key: str, repo: Repo, world: World) -> Probe:
    org, name = repo.id.split("/")
    if key.startswith("DELETE"):
        return Probe("/api/repos/delete", json={"name": name, "organization": org, "type": repo.type})
    return Probe(
        "/api/repos/move", json={"fromRepo": repo.id, "toRepo": f"{org}/{_unique('moved')}", "type": repo.type}
    )


def _throwaway(world: World, like: Repo) -> Repo:
    name = _unique(f"{like.type}-copy")
    body = {"name": name, "organization": world.org, "type": like.type, "private": like.private}
    if like.type == "space":
        body["sdk"] = "static"
    created = httpx.post(f"{world.server_url}/api/repos/create", json=body, headers=_bearer(world.admin.token))
    assert created.status_code == 200, created.text
    return Repo(like.type, f"{world.org}/{name}", int(created.json()["id"]), like.private)


@pytest.mark.parametrize("actor", ACTORS)
def test_listings_show_private_repositories_only_to_who_may_read_them(world: World, actor: str):
    with world.client(actor) as client:
        for repo_type in REPO_TYPES:
            for query in ({"author": world.org}, {"search": world.org}, {}):
                listed = {item["id"] for item in client.get(f"/api/{PLURAL[repo_type]}", params=query).json()}
                private = world.repos[(repo_type, "private")].id
                assert (private in listed) == (ACTOR_LEVEL[actor] >= Level.READ), (repo_type, query)
                if query:
                    assert world.repos[(repo_type, "public")].id in listed


@pytest.mark.parametrize("actor", ACTORS)
def test_bare_id_twins_answer_like_a_missing_repository(world: World, actor: str):
    wanted = (401 if actor == "anonymous" else 404, "RepoNotFound")
    failures = []
    with world.client(actor) as client:
        for method, path in BARE_ID_TWINS:
            concrete = path.replace("{revision:path}", "main").replace("{path:path}", "a.txt")
            concrete = concrete.format(
                repo_type="models",
                name="gpt2",
                revision="main",
                branch="b",
                tag="t",
                lock_id="1",
                num="1",
                comment_id="c",
                status="pending",
            )
            got = client.request(method, concrete)
            if (got.status_code, got.headers.get("x-error-code")) != wanted:
                failures.append(f"{method} {concrete}: {got.status_code} {got.headers.get('x-error-code')}")
    assert failures == [], "\n".join(failures)
