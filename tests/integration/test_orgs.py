"""Organizations and fine-grained tokens through huggingface_hub 2.4 and git: who may read, write and manage
what, as the Hub answers it, with membership changes effective on the very next request."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from helpers import LFS_CONTENT_TYPE, sha256_bytes
from helpers.git import Git
from helpers.orgs import Person, fine_grained_token, make_org, make_person

SECRET = b"weights nobody outside the org may see\n"


@dataclass(frozen=True)
class Team:
    org: str
    admin: Person
    writer: Person
    reader: Person
    contributor: Person
    outsider: Person
    private_repo: str  # made by the admin, holding secret.txt

    def api(self, person: Person | str) -> HfApi:
        token = person if isinstance(person, str) else person.token
        return HfApi(token=token)


@pytest.fixture(scope="module")
def team(server) -> Team:
    admin, writer, reader, contributor, outsider = (
        make_person(server, prefix) for prefix in ("admin", "writer", "reader", "contrib", "outsider")
    )
    org = make_org(server, admin, {writer.name: "write", reader.name: "read", contributor.name: "contributor"})
    repo = f"{org}/private-model"
    api = HfApi(token=admin.token)
    api.create_repo(repo, private=True)
    api.upload_file(path_or_fileobj=SECRET, path_in_repo="secret.txt", repo_id=repo)
    return Team(org, admin, writer, reader, contributor, outsider, repo)


def _status(error: pytest.ExceptionInfo[HfHubHTTPError]) -> int:
    return error.value.response.status_code


def test_write_member_creates_and_commits_in_the_org(team: Team, unique_name, hf_cache: Path):
    api = team.api(team.writer)
    repo = f"{team.org}/{unique_name()}"
    url = api.create_repo(repo, private=True)
    assert url.repo_id == repo
    api.upload_file(path_or_fileobj=b"by a writer\n", path_in_repo="a.txt", repo_id=repo)
    api.upload_file(path_or_fileobj=b"also\n", path_in_repo="b.txt", repo_id=team.private_repo)
    weights = os.urandom(200_000)  # an LFS file: the upload and the download go through signed LFS URLs
    api.upload_file(path_or_fileobj=weights, path_in_repo="weights.bin", repo_id=repo)
    reader = team.api(team.reader)
    assert reader.get_paths_info(repo, ["weights.bin"])[0].lfs is not None
    assert Path(reader.hf_hub_download(repo, "weights.bin", cache_dir=hf_cache)).read_bytes() == weights
    assert Path(reader.hf_hub_download(repo, "a.txt", cache_dir=hf_cache)).read_bytes() == b"by a writer\n"
    assert team.api(team.admin).repo_info(repo).private is True


def test_read_member_reads_private_repos_but_cannot_write(team: Team, unique_name, hf_cache: Path):
    api = team.api(team.reader)
    assert api.repo_info(team.private_repo).private is True
    assert Path(api.hf_hub_download(team.private_repo, "secret.txt", cache_dir=hf_cache)).read_bytes() == SECRET
    with pytest.raises(HfHubHTTPError) as refused:
        api.upload_file(path_or_fileobj=b"no\n", path_in_repo="no.txt", repo_id=team.private_repo)
    assert _status(refused) == 403
    with pytest.raises(HfHubHTTPError) as refused:
        api.create_repo(f"{team.org}/{unique_name()}")
    assert _status(refused) == 403
    with pytest.raises(HfHubHTTPError) as refused:
        api.delete_repo(team.private_repo)
    assert _status(refused) == 403
    assert "secret.txt" in team.api(team.admin).list_repo_files(team.private_repo)


def test_non_member_sees_the_private_org_repo_as_missing(team: Team, unique_name, server):
    api = team.api(team.outsider)
    with pytest.raises(RepositoryNotFoundError):
        api.repo_info(team.private_repo)
    with pytest.raises(RepositoryNotFoundError):
        api.hf_hub_download(team.private_repo, "secret.txt")
    assert api.repo_exists(team.private_repo) is False
    missing = httpx.get(f"{server.url}/api/models/{team.org}/no-such-repo", headers=_bearer(team.outsider.token))
    hidden = httpx.get(f"{server.url}/api/models/{team.private_repo}", headers=_bearer(team.outsider.token))
    assert (hidden.status_code, hidden.headers["x-error-code"], hidden.json()) == (
        missing.status_code,
        missing.headers["x-error-code"],
        missing.json(),
    )
    # Creating a repo in an organization one is not part of is a 403, as on the Hub, never a silent success.
    with pytest.raises(HfHubHTTPError) as refused:
        api.create_repo(f"{team.org}/{unique_name()}")
    assert _status(refused) == 403
    assert team.private_repo not in {info.id for info in api.list_models(author=team.org)}
    assert team.private_repo in {info.id for info in team.api(team.reader).list_models(author=team.org)}


def test_contributor_writes_only_the_repos_it_created(team: Team, unique_name):
    api = team.api(team.contributor)
    assert api.repo_info(team.private_repo).private is True
    own = f"{team.org}/{unique_name()}"
    api.create_repo(own, private=True)
    api.upload_file(path_or_fileobj=b"mine\n", path_in_repo="mine.txt", repo_id=own)
    with pytest.raises(HfHubHTTPError) as refused:
        api.upload_file(path_or_fileobj=b"no\n", path_in_repo="no.txt", repo_id=team.private_repo)
    assert _status(refused) == 403


def test_git_push_by_a_write_member_and_not_by_a_read_member(team: Team, server, tmp_path: Path, git_binaries):
    writer = Git.isolated(tmp_path / "writer", server.url)
    writer.login(team.writer.token)
    clone = writer.clone(team.private_repo, tmp_path / "w")
    (clone / "pushed.txt").write_bytes(b"pushed by a writer\n")
    commit = writer.commit_all(clone, "Push as a write member")
    writer("push", "origin", "main", cwd=clone)
    assert team.api(team.admin).repo_info(team.private_repo).sha == commit

    reader = Git.isolated(tmp_path / "reader", server.url)
    reader.login(team.reader.token)
    clone = reader.clone(team.private_repo, tmp_path / "r")
    assert (clone / "secret.txt").read_bytes() == SECRET
    (clone / "refused.txt").write_bytes(b"no\n")
    reader.commit_all(clone, "Push as a read member")
    refused = reader("push", "origin", "main", cwd=clone, check=False)
    assert refused.returncode != 0
    assert "403" in refused.stderr or "rights" in refused.stderr, refused.stderr
    assert team.api(team.admin).repo_info(team.private_repo).sha == commit

    outsider = Git.isolated(tmp_path / "outsider", server.url)
    outsider.login(team.outsider.token)
    missing = outsider("clone", outsider.url(team.private_repo), str(tmp_path / "o"), check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr.lower(), missing.stderr


@pytest.fixture
def git_binaries() -> None:
    if shutil.which("git") is None or shutil.which("git-lfs") is None:
        pytest.fail("git and git-lfs are needed: run `make system-deps`")


def test_removed_member_loses_access_on_the_very_next_request(team: Team, server, hf_cache: Path):
    member = make_person(server, "leaver")
    admin = httpx.Client(base_url=server.url, headers=_bearer(team.admin.token))
    added = admin.put(f"/api/organizations/{team.org}/members/{member.name}", json={"role": "write"})
    assert added.status_code == 200, added.text
    api = team.api(member)
    assert api.repo_info(team.private_repo).private is True
    api.upload_file(path_or_fileobj=b"while a member\n", path_in_repo="member.txt", repo_id=team.private_repo)
    weights = os.urandom(100_000)
    api.upload_file(path_or_fileobj=weights, path_in_repo="member.bin", repo_id=team.private_repo)
    href = _lfs_download_url(server, member.token, team.private_repo, weights)
    assert httpx.get(href).content == weights

    demoted = admin.put(f"/api/organizations/{team.org}/members/{member.name}", json={"role": "read"})
    assert demoted.json()["role"] == "read"
    with pytest.raises(HfHubHTTPError) as refused:
        api.upload_file(path_or_fileobj=b"no\n", path_in_repo="no.txt", repo_id=team.private_repo)
    assert _status(refused) == 403

    assert admin.delete(f"/api/organizations/{team.org}/members/{member.name}").status_code == 200
    assert httpx.get(href).status_code == 403  # the URL it obtained as a member ends with the membership
    with pytest.raises(RepositoryNotFoundError):
        api.repo_info(team.private_repo)
    with pytest.raises(RepositoryNotFoundError):
        api.hf_hub_download(team.private_repo, "secret.txt", cache_dir=hf_cache)
    assert team.org not in {org["name"] for org in api.whoami()["orgs"]}


def test_whoami_lists_orgs_with_roles(team: Team):
    for person, role in ((team.admin, "admin"), (team.writer, "write"), (team.reader, "read")):
        me = team.api(person).whoami()
        assert me["type"] == "user" and me["name"] == person.name
        ours = [org for org in me["orgs"] if org["name"] == team.org]
        assert len(ours) == 1
        assert ours[0]["roleInOrg"] == role
        assert ours[0]["type"] == "org" and ours[0]["fullname"] == team.org
        assert me["auth"]["accessToken"]["role"] == "write"
        assert "fineGrained" not in me["auth"]["accessToken"]
    assert team.api(team.outsider).whoami()["orgs"] == []


def test_org_overview_and_members(team: Team, server):
    overview = team.api(team.outsider).get_organization_overview(team.org)
    assert overview.name == team.org and overview.num_users == 4
    seen_by_member = team.api(team.reader).get_organization_overview(team.org)
    assert seen_by_member.num_models > overview.num_models  # the private repos count for members only
    members = {user.username: user for user in team.api(team.reader).list_organization_members(team.org)}
    assert set(members) == {team.admin.name, team.writer.name, team.reader.name, team.contributor.name}
    assert members[team.writer.name].role == "write"
    outside = list(team.api(team.outsider).list_organization_members(team.org))
    assert not any(hasattr(user, "role") for user in outside)
    with pytest.raises(HfHubHTTPError) as missing:
        team.api(team.reader).get_organization_overview("no-such-org-anywhere")
    assert _status(missing) == 404


def test_org_management_through_the_api(server, unique_name):
    founder, other = make_person(server, "founder"), make_person(server, "other")
    client = httpx.Client(base_url=server.url, headers=_bearer(founder.token))
    name = unique_name("team")
    created = client.post("/api/organizations/create", json={"name": name, "fullname": "A Team"})
    assert created.status_code == 200, created.text
    assert created.json()["name"] == name
    assert client.post("/api/organizations/create", json={"name": name}).status_code == 409
    assert client.post("/api/organizations/create", json={"name": founder.name}).status_code == 409
    assert name in {org["name"] for org in client.get("/api/organizations").json()}

    stranger = httpx.Client(base_url=server.url, headers=_bearer(other.token))
    assert stranger.put(f"/api/organizations/{name}/members/{other.name}", json={"role": "admin"}).status_code == 403
    assert client.put(f"/api/organizations/{name}/members/{other.name}", json={"role": "boss"}).status_code == 400
    assert client.put(f"/api/organizations/{name}/members/{other.name}", json={"role": "read"}).status_code == 200
    assert stranger.put(f"/api/organizations/{name}/members/{other.name}", json={"role": "admin"}).status_code == 403
    # The last admin cannot leave or be demoted; a member can always leave.
    assert client.delete(f"/api/organizations/{name}/members/{founder.name}").status_code == 409
    assert client.put(f"/api/organizations/{name}/members/{founder.name}", json={"role": "read"}).status_code == 409
    assert stranger.delete(f"/api/organizations/{name}/members/{other.name}").status_code == 200
    assert [org["name"] for org in HfApi(token=other.token).whoami()["orgs"]] == []

    HfApi(token=founder.token).create_repo(f"{name}/first", private=True)
    repos = client.get(f"/api/organizations/{name}/settings/repositories").json()
    assert [repo["id"] for repo in repos] == [f"{name}/first"]
    assert stranger.get(f"/api/organizations/{name}/settings/repositories").status_code == 404
    anonymous = httpx.post(f"{server.url}/api/organizations/create", json={"name": unique_name("anon")})
    assert anonymous.status_code == 401
    # Every membership change is in the audit log, with who made it.
    site_admin = make_person(server, "auditor")
    server.admin("make-admin", site_admin.name)
    events = httpx.get(
        f"{server.url}/api/admin/audit",
        params={"event": "org.membership-changed", "limit": 1000},
        headers=_bearer(site_admin.token),
    ).json()
    ours = [(e["actor"], e["details"]["user"], e["details"]["role"]) for e in events if e["target"] == f"org:{name}"]
    assert ours == [
        (other.name, other.name, None),
        (founder.name, other.name, "read"),
        (founder.name, founder.name, "admin"),
    ]
    # Names that cannot exist are a 400, never a database error (a NUL byte is one PostgreSQL refuses).
    for path in ("/api/organizations/a%00b/overview", "/api/organizations/a..b/members", "/api/users/%00/overview"):
        assert client.get(path).status_code == 400, path
    assert client.put(f"/api/organizations/{name}/members/a%00b", json={"role": "read"}).status_code == 400
    # Users and organizations share one namespace, whatever the case.
    with pytest.raises(RuntimeError, match="is the name of an organization"):
        server.create_user(name.upper())


def test_fine_grained_token_acts_only_within_its_grants(team: Team, server, unique_name, hf_cache: Path):
    owner = team.api(team.admin)
    other = f"{team.org}/{unique_name('other')}"
    owner.create_repo(other, private=True)
    token = fine_grained_token(server, team.admin.name, f"model:{team.private_repo}=read")
    api = team.api(token)
    assert Path(api.hf_hub_download(team.private_repo, "secret.txt", cache_dir=hf_cache)).read_bytes() == SECRET
    with pytest.raises(RepositoryNotFoundError):
        api.repo_info(other)  # another private repo of the same org answers like a missing one
    with pytest.raises(HfHubHTTPError) as refused:
        api.upload_file(path_or_fileobj=b"no\n", path_in_repo="no.txt", repo_id=team.private_repo)
    assert _status(refused) == 403
    with pytest.raises(HfHubHTTPError) as refused:
        api.create_repo(f"{team.org}/{unique_name()}")
    assert _status(refused) == 403
    listed = {info.id for info in api.list_models(author=team.org)}
    assert team.private_repo in listed and other not in listed

    me = api.whoami()
    assert me["name"] == team.admin.name
    access = me["auth"]["accessToken"]
    assert access["role"] == "fineGrained"
    assert access["fineGrained"]["global"] == [] and access["fineGrained"]["canReadGatedRepos"] is False
    [scope] = access["fineGrained"]["scoped"]
    assert scope["entity"]["type"] == "model" and scope["entity"]["name"] == team.private_repo
    assert isinstance(scope["entity"]["_id"], str) and scope["entity"]["_id"]
    assert scope["permissions"] == ["repo.content.read"]


def test_fine_grained_write_grants_write_and_never_more_than_the_user_has(team: Team, server, unique_name):
    writable = fine_grained_token(server, team.writer.name, f"model:{team.private_repo}=write")
    HfApi(token=writable).upload_file(path_or_fileobj=b"ok\n", path_in_repo="fg.txt", repo_id=team.private_repo)
    org_wide = fine_grained_token(server, team.reader.name, f"org:{team.org}=write")
    assert HfApi(token=org_wide).whoami()["auth"]["accessToken"]["fineGrained"]["scoped"][0]["permissions"] == [
        "repo.content.read",
        "repo.write",
    ]
    with pytest.raises(HfHubHTTPError) as refused:  # the grant says write, the user's role says read
        HfApi(token=org_wide).upload_file(path_or_fileobj=b"no\n", path_in_repo="no.txt", repo_id=team.private_repo)
    assert _status(refused) == 403
    namespace = fine_grained_token(server, team.writer.name, f"org:{team.org}=write")
    created = f"{team.org}/{unique_name()}"
    HfApi(token=namespace).create_repo(created)
    own = fine_grained_token(server, team.writer.name, f"user:{team.writer.name}=read")
    with pytest.raises(HfHubHTTPError) as refused:
        HfApi(token=own).create_repo(f"{team.writer.name}/{unique_name()}")
    assert _status(refused) == 403


def _lfs_download_url(server, token: str, repo: str, content: bytes) -> str:
    batch = httpx.post(
        f"{server.url}/{repo}.git/info/lfs/objects/batch",
        json={"operation": "download", "objects": [{"oid": sha256_bytes(content), "size": len(content)}]},
        headers={**_bearer(token), "Accept": LFS_CONTENT_TYPE, "Content-Type": LFS_CONTENT_TYPE},
    )
    assert batch.status_code == 200, batch.text
    return batch.json()["objects"][0]["actions"]["download"]["href"]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
