"""Accounts through the real clients: a revoked token, and a repository made private, end every grant at once
(huggingface_hub, git, signed LFS URLs, Xet tokens and fetch URLs, hf_xet); failed authentications are
throttled per client address across worker processes; the audit log records who changed access; the admin
CLI refuses to start a second hub by accident.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError

from conftest import Server, User, launch_server

LFS_JSON = "application/vnd.git-lfs+json"


@pytest.fixture
def xet(monkeypatch, tmp_path: Path) -> None:
    """huggingface_hub uploads and downloads through hf_xet in this test, with an empty hf_xet cache."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "xet-cache"))
    monkeypatch.setenv("HF_XET_TELEMETRY_ENABLED", "false")


def _new_user(server: Server, prefix: str, *flags: str) -> User:
    name = f"{prefix}{uuid.uuid4().hex[:6]}"
    server.admin("create-user", name, *flags)
    return User(name, server.create_token(name, "write"))


def _token_ids(server: Server, user: str) -> list[int]:
    return [int(line.split("\t")[0]) for line in server.admin("tokens", user).splitlines()]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _lfs_download_url(server: Server, repo_id: str, data: bytes, token: str | None) -> str:
    """The signed URL the batch API hands out for `data` (what git-lfs and huggingface_hub then GET)."""
    body = {"operation": "download", "objects": [{"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}]}
    headers = {"Accept": LFS_JSON, "Content-Type": LFS_JSON, **(_bearer(token) if token else {})}
    response = httpx.post(f"{server.url}/{repo_id}.git/info/lfs/objects/batch", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["objects"][0]["actions"]["download"]["href"]


class XetGrant:
    """What hf_xet holds while it downloads a file: a CAS token, the file's plan, and one signed fetch URL."""

    def __init__(self, server: Server, repo_id: str, token: str | None) -> None:
        headers = _bearer(token) if token else {}
        self.file_hash = httpx.head(f"{server.url}/{repo_id}/resolve/main/w.bin", headers=headers).headers["x-xet-hash"]
        read = httpx.get(f"{server.url}/api/models/{repo_id}/xet-read-token/main", headers=headers).json()
        self.cas_url, self.cas_token, self.expires = read["casUrl"], read["accessToken"], read["exp"]
        self.refresh_url = f"{server.url}/api/models/{repo_id}/xet-read-token/main"
        plan = self.reconstruction()
        assert plan.status_code == 200, plan.text
        fetch = next(iter(plan.json()["fetch_info"].values()))[0]
        self.fetch_url = fetch["url"]
        self.fetch_range = f"bytes={fetch['url_range']['start']}-{fetch['url_range']['end']}"

    def reconstruction(self) -> httpx.Response:
        return httpx.get(f"{self.cas_url}/v1/reconstructions/{self.file_hash}", headers=_bearer(self.cas_token))

    def fetch(self) -> httpx.Response:
        return httpx.get(self.fetch_url, headers={"Range": self.fetch_range})


def _hf_xet_download(grant: XetGrant, hub_token: str, size: int, target: Path) -> bytes:
    """Download the file with hf_xet itself, as huggingface_hub drives it, from the CAS token obtained earlier."""
    from hf_xet import XetFileInfo, XetSession

    session = XetSession()
    with session.new_file_download_group(
        endpoint=grant.cas_url,
        token=grant.cas_token,
        token_expiry_unix_secs=grant.expires,
        token_refresh_url=grant.refresh_url,
        token_refresh_headers=_bearer(hub_token),
        custom_headers={},
        progress_callback=None,
    ) as group:
        group.start_download_file(XetFileInfo(grant.file_hash, size), str(target))
    return target.read_bytes()


def _git_clone(server: Server, token: str, repo_id: str, target: Path) -> subprocess.CompletedProcess[str]:
    home = target.parent / f"{target.name}-home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GIT_", "SSH_ASKPASS"))}
    env.update({"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": ""})
    subprocess.run(["git", "lfs", "install", "--skip-repo"], env=env, check=True, capture_output=True)
    url = f"http://user:{token}@{server.url.removeprefix('http://')}/{repo_id}"
    return subprocess.run(["git", "clone", url, str(target)], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def git_binaries() -> None:
    missing = [tool for tool in ("git", "git-lfs") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not installed: run `make system-deps`")


def test_a_revoked_token_stops_working_at_once_everywhere(server: Server, xet, git_binaries, tmp_path: Path):
    user = _new_user(server, "rev")
    repo_id = f"{user.name}/weights"
    api = HfApi(endpoint=server.url, token=user.token)
    api.create_repo(repo_id)
    data = os.urandom(300_000)
    api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=repo_id)  # through Xet

    # Obtained while the token is valid: a signed LFS URL, a Xet CAS token and a signed Xet fetch URL.
    lfs_url = _lfs_download_url(server, repo_id, data, user.token)
    grant = XetGrant(server, repo_id, user.token)
    assert httpx.get(lfs_url).content == data
    assert grant.fetch().status_code == 206
    assert _hf_xet_download(grant, user.token, len(data), tmp_path / "before.bin") == data
    assert _git_clone(server, user.token, repo_id, tmp_path / "clone-before").returncode == 0
    assert "last used never" not in server.admin("tokens", user.name)  # its use was recorded

    [token_id] = _token_ids(server, user.name)
    assert f"Revoked token {token_id}" in server.admin("revoke-token", str(token_id))

    with pytest.raises(HfHubHTTPError) as refused:
        api.whoami()
    assert refused.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError):
        hf_hub_download(repo_id, "w.bin", token=user.token, cache_dir=tmp_path / "cache")  # the Xet path
    clone = _git_clone(server, user.token, repo_id, tmp_path / "clone-after")
    assert clone.returncode != 0, clone.stdout
    assert httpx.get(lfs_url).status_code == 403
    assert grant.reconstruction().status_code == 401
    assert grant.fetch().status_code == 403
    with pytest.raises(Exception, match=r"(?i)auth|401|403|token|denied"):
        _hf_xet_download(grant, user.token, len(data), tmp_path / "after.bin")
    assert "revoked" in server.admin("tokens", user.name)
    # A token of the same user made afterwards works: revocation ends one token, not the account.
    assert HfApi(endpoint=server.url, token=server.create_token(user.name)).whoami()["name"] == user.name


def test_signed_urls_of_a_repo_made_private_stop_working(server: Server, xet, tmp_path: Path):
    owner = _new_user(server, "own")
    other = _new_user(server, "oth")
    repo_id = f"{owner.name}/soon-private"
    api = HfApi(endpoint=server.url, token=owner.token)
    api.create_repo(repo_id)
    data = os.urandom(200_000)
    api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=repo_id)

    anonymous_url = _lfs_download_url(server, repo_id, data, None)
    others_url = _lfs_download_url(server, repo_id, data, other.token)
    owners_url = _lfs_download_url(server, repo_id, data, owner.token)
    anonymous_xet = XetGrant(server, repo_id, None)
    for url in (anonymous_url, others_url, owners_url):
        assert httpx.get(url).content == data

    api.update_repo_settings(repo_id, private=True)
    assert httpx.get(anonymous_url).status_code == 403
    assert httpx.get(others_url).status_code == 403
    assert anonymous_xet.reconstruction().status_code == 401
    assert anonymous_xet.fetch().status_code == 403
    assert httpx.get(owners_url).content == data  # the owner still sees the repository

    api.delete_repo(repo_id)
    assert httpx.get(owners_url).status_code == 403

    admin = _new_user(server, "adm", "--admin")
    events = httpx.get(f"{server.url}/api/admin/audit", params={"limit": 1000}, headers=_bearer(admin.token)).json()
    mine = [(e["event"], e["actor"], e["details"]) for e in events if e["target"] == f"model:{repo_id}"]
    assert mine == [
        ("repo.deleted", owner.name, {}),
        ("repo.visibility-changed", owner.name, {"to": "private"}),
    ]
    bogus = httpx.get(f"{server.url}/api/admin/audit", params={"event": "x\x00"}, headers=_bearer(admin.token))
    assert bogus.status_code == 400 and "Unknown event" in bogus.json()["error"]
    assert httpx.get(f"{server.url}/api/admin/audit", headers=_bearer(other.token)).status_code == 403
    assert httpx.get(f"{server.url}/api/admin/audit").status_code == 401


def test_audit_records_tokens_admins_and_moves(server: Server):
    user = _new_user(server, "aud")
    api = HfApi(endpoint=server.url, token=user.token)
    api.create_repo(f"{user.name}/before")
    api.move_repo(f"{user.name}/before", f"{user.name}/after")
    [token_id] = _token_ids(server, user.name)
    server.admin("make-admin", user.name)
    server.admin("revoke-token", str(token_id))
    lines = server.admin("audit", "--limit", "1000").splitlines()
    mine = [line.split("\t")[2:5] for line in lines if user.name in line]
    cli = mine[0][1]
    assert cli.startswith("cli:")
    assert mine == [
        ["token.revoked", cli, f"token:{token_id}"],
        ["user.admin-granted", cli, f"user:{user.name}"],
        ["repo.moved", user.name, f"model:{user.name}/before"],
        ["token.created", cli, f"token:{token_id}"],
        ["user.created", cli, f"user:{user.name}"],
    ]
    assert f"to={user.name}/after" in next(line for line in lines if "repo.moved" in line and user.name in line)


def test_brute_force_gets_429_while_another_address_still_works(tmp_path: Path):
    limit = 10
    settings = {"MODELYARD_AUTH_FAILURE_LIMIT": str(limit), "MODELYARD_AUTH_FAILURE_WINDOW_SECONDS": "300"}
    with launch_server(tmp_path / "throttled", extra_env=settings, workers=2) as hub:  # two processes count together
        assert "no users yet" in hub.log_text() and "create-user NAME --admin" in hub.log_text()
        hub.create_user("carol")
        token = hub.create_token("carol")
        with httpx.Client(base_url=hub.url) as attacker:
            answers = [attacker.get("/api/whoami-v2", headers=_bearer(f"my_guess{n}")) for n in range(50)]
            assert [a.status_code for a in answers] == [401] * limit + [429] * (50 - limit)
            assert 0 < int(answers[-1].headers["Retry-After"]) <= 300
            assert answers[-1].headers["X-Error-Code"] == "TooManyRequests"
            # From the blocked address even the right token gets 429: a guess that hits is not told apart.
            assert attacker.get("/api/whoami-v2", headers=_bearer(token)).status_code == 429
            assert attacker.get("/api/health").status_code == 200  # requests without credentials go on
        with pytest.raises(HfHubHTTPError) as throttled:
            HfApi(endpoint=hub.url, token=token).whoami()
        assert throttled.value.response.status_code == 429

        elsewhere = httpx.Client(base_url=hub.url, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        with elsewhere:
            for _ in range(4):  # whichever worker answers
                response = elsewhere.get("/api/whoami-v2", headers=_bearer(token))
                assert response.status_code == 200 and response.json()["name"] == "carol"

        clone = subprocess.run(
            ["git", "ls-remote", f"http://carol:{token}@{hub.url.removeprefix('http://')}/carol/none"],
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": ""},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert clone.returncode != 0 and "429" in clone.stderr


def test_admin_commands_name_their_hub_and_refuse_a_mistyped_data_dir(server: Server, tmp_path: Path):
    env = server.env

    def modelyard(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "modelyard", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    version = modelyard("--version")
    assert version.returncode == 0 and version.stdout.startswith("modelyard, version ")

    typo = tmp_path / "modelyard-dta"
    refused = modelyard("admin", "users", "--data-dir", str(typo))
    assert refused.returncode == 1 and "--init" in refused.stderr and str(typo) in refused.stderr
    assert not typo.exists()  # nothing was created
    created = modelyard("admin", "create-user", "first", "--admin", "--data-dir", str(typo), "--init")
    assert created.returncode == 0, created.stderr
    assert f"data dir {typo}" in created.stderr
    listed = modelyard("admin", "users", "--data-dir", str(typo))
    assert listed.stdout.split("\t")[:2] == ["first", "admin"]

    # On the running hub: every command says where it acted (stderr), stdout stays the result.
    user = _new_user(server, "cli")
    done = modelyard("admin", "users", "--data-dir", str(server.data_dir), "--database-url", server.db_url)
    assert f"data dir {server.data_dir.resolve()}" in done.stderr
    assert any(line.startswith(f"{user.name}\t-\t1 tokens") for line in done.stdout.splitlines())
    server.admin("make-admin", user.name)
    assert f"{user.name}\tadmin\t" in server.admin("users")
    server.admin("unmake-admin", user.name)
    assert f"{user.name}\t-\t" in server.admin("users")
    with pytest.raises(RuntimeError, match="No user named nobody"):
        server.admin("make-admin", "nobody")
    with pytest.raises(RuntimeError, match="No token with id 999999"):
        server.admin("revoke-token", "999999")


def test_users_list_and_revoke_their_own_tokens_over_http(server: Server):
    user = _new_user(server, "own")
    spare = server.create_token(user.name, "read")
    stranger = _new_user(server, "str")
    with httpx.Client(base_url=server.url, headers=_bearer(user.token)) as http:
        listed = http.get("/api/settings/tokens").json()
        assert [(t["role"], t["revokedAt"]) for t in listed] == [("write", None), ("read", None)]
        assert listed[0]["lastUsedAt"] is not None  # this very request used it
        spare_id = listed[1]["id"]
        # Another user's token is answered like a missing one; a read token cannot revoke.
        assert (
            httpx.delete(f"{server.url}/api/settings/tokens/{spare_id}", headers=_bearer(stranger.token)).status_code
            == 404
        )
        assert (
            httpx.delete(f"{server.url}/api/settings/tokens/{listed[0]['id']}", headers=_bearer(spare)).status_code
            == 403
        )
        assert http.delete(f"/api/settings/tokens/{spare_id}").json()["revokedAt"] is not None
        assert httpx.get(f"{server.url}/api/whoami-v2", headers=_bearer(spare)).status_code == 401
        assert http.get("/api/whoami-v2").json()["name"] == user.name
    assert f"token.revoked\t{user.name}\ttoken:{spare_id}" in server.admin("audit", "--event", "token.revoked")
