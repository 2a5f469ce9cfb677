"""Gated repositories through huggingface_hub 2.4, git and plain HTTP: metadata for everyone who can see the repo,
files only for its members and the users whose access request was accepted; requests asked through the HTTP
endpoint the web form posts to, and managed with the client's own access-request methods."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

from helpers import LFS_CONTENT_TYPE, sha256_bytes
from helpers.git import Git
from helpers.orgs import Person, make_org, make_person

CARD = b"""---
license: other
extra_gated_prompt: Tell us who you are.
extra_gated_heading: Request access
extra_gated_button_content: Submit
extra_gated_fields:
  Company: text
  Country: country
  Start date: date_picker
  Purpose:
    type: select
    options: [Research, Education, {label: Other, value: other}]
  I agree to the license: checkbox
---
# A gated model
"""
ANSWERS = {
    "Company": "Acme",
    "Country": "France",
    "Start date": "2026-01-31",
    "Purpose": "Research",
    "I agree to the license": True,
}
WEIGHTS = os.urandom(150_000)  # an LFS file: downloads go through the LFS batch and its signed URLs


@dataclass(frozen=True)
class Gate:
    server_url: str
    org: str
    admin: Person
    member: Person  # a read member of the organization
    repo: str


def _make_gated(server, admin: Person, org: str, name: str, mode: str) -> str:
    repo = f"{org}/{name}"
    api = HfApi(endpoint=server.url, token=admin.token)
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=CARD, path_in_repo="README.md", repo_id=repo)
    api.upload_file(path_or_fileobj=WEIGHTS, path_in_repo="weights.bin", repo_id=repo)
    api.update_repo_settings(repo, gated=mode)
    return repo


@pytest.fixture(scope="module")
def gate(server) -> Gate:
    admin, member = make_person(server, "gate-admin"), make_person(server, "gate-member")
    org = make_org(server, admin, {member.name: "read"})
    return Gate(server.url, org, admin, member, _make_gated(server, admin, org, "manual-model", "manual"))


def _ask(server_url: str, person: Person, repo: str, answers: dict | None = None) -> httpx.Response:
    return httpx.post(
        f"{server_url}/api/models/{repo}/ask-access",
        json=ANSWERS if answers is None else answers,
        headers={"Authorization": f"Bearer {person.token}"},
    )


def _download(person: Person | None, repo: str, cache: Path, filename: str = "weights.bin") -> bytes:
    token = person.token if person else False
    return Path(hf_hub_download(repo, filename, cache_dir=cache, token=token)).read_bytes()


def test_metadata_is_visible_files_are_gated(gate: Gate, server, hf_cache: Path):
    outsider = make_person(server, "outsider")
    for token in (outsider.token, False):
        info = HfApi(token=token).model_info(gate.repo)
        assert info.gated == "manual"
        assert {s.rfilename for s in info.siblings} >= {"README.md", "weights.bin"}
        assert info.card_data["extra_gated_fields"]["Company"] == "text"
    with pytest.raises(GatedRepoError) as refused:
        _download(outsider, gate.repo, hf_cache)
    assert refused.value.response.status_code == 403
    assert "is restricted and you are not in the authorized list" in refused.value.response.headers["x-error-message"]
    with pytest.raises(GatedRepoError):
        _download(outsider, gate.repo, hf_cache, "README.md")
    with pytest.raises(GatedRepoError):
        snapshot_download(gate.repo, cache_dir=hf_cache, token=outsider.token)
    with pytest.raises(GatedRepoError) as anonymous:
        _download(None, gate.repo, hf_cache)
    assert anonymous.value.response.status_code == 401
    assert "Please log in" in anonymous.value.response.headers["x-error-message"]


def test_members_and_owners_are_never_gated(gate: Gate, hf_cache: Path, tmp_path: Path, server):
    assert _download(gate.member, gate.repo, hf_cache) == WEIGHTS
    assert _download(gate.admin, gate.repo, hf_cache, "README.md") == CARD
    path = snapshot_download(gate.repo, cache_dir=tmp_path / "snap", token=gate.member.token)
    assert (Path(path) / "weights.bin").read_bytes() == WEIGHTS
    git = Git.isolated(tmp_path / "git", server.url)
    git.login(gate.member.token)
    clone = git.clone(gate.repo, tmp_path / "clone")
    assert (clone / "weights.bin").read_bytes() == WEIGHTS


def test_every_download_route_answers_the_gated_error(gate: Gate, server, tmp_path: Path):
    outsider = make_person(server, "outsider")
    headers = {"Authorization": f"Bearer {outsider.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        batch = {"operation": "download", "objects": [{"oid": "0" * 64, "size": 1}]}
        lfs = client.post(
            f"/{gate.repo}.git/info/lfs/objects/batch",
            json=batch,
            headers={"Accept": LFS_CONTENT_TYPE, "Content-Type": LFS_CONTENT_TYPE},
        )
        xet = client.get(f"/api/models/{gate.repo}/xet-read-token/main")
        for answer in (lfs, xet, client.get(f"/{gate.repo}/resolve/main/weights.bin")):
            assert (answer.status_code, answer.headers.get("x-error-code")) == (403, "GatedRepo"), answer.text
        assert client.get(f"/{gate.repo}/info/refs", params={"service": "git-upload-pack"}).status_code == 403
        assert client.get(f"/api/models/{gate.repo}/tree/main").status_code == 200  # metadata stays visible
    git = Git.isolated(tmp_path / "git", server.url)
    git.login(outsider.token)
    refused = git("clone", git.url(gate.repo), str(tmp_path / "clone"), check=False)
    assert refused.returncode != 0


def test_manual_request_then_accept_reject_cancel_and_grant(gate: Gate, server, hf_cache: Path):
    user = make_person(server, "requester")
    admin_api = HfApi(token=gate.admin.token)
    missing = _ask(gate.server_url, user, gate.repo, {**ANSWERS, "I agree to the license": False})
    assert missing.status_code == 400 and "I agree to the license" in missing.json()["error"]
    bad_date = _ask(gate.server_url, user, gate.repo, {**ANSWERS, "Start date": "someday"})
    assert bad_date.status_code == 400
    bad_choice = _ask(gate.server_url, user, gate.repo, {**ANSWERS, "Purpose": "Fun"})
    assert bad_choice.status_code == 400
    assert list(admin_api.list_pending_access_requests(gate.repo)) == []  # nothing half-written
    asked = _ask(gate.server_url, user, gate.repo)
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "pending"

    pending = list(admin_api.list_pending_access_requests(gate.repo))
    assert [(r.username, r.status) for r in pending] == [(user.name, "pending")]
    assert pending[0].fields == {**ANSWERS}
    with pytest.raises(GatedRepoError) as pending_error:  # pending is not accepted
        _download(user, gate.repo, hf_cache)
    assert "awaiting a review" in pending_error.value.response.headers["x-error-message"]

    admin_api.accept_access_request(gate.repo, user.name)
    assert [r.username for r in admin_api.list_accepted_access_requests(gate.repo)] == [user.name]
    assert list(admin_api.list_pending_access_requests(gate.repo)) == []
    assert _download(user, gate.repo, hf_cache) == WEIGHTS  # bytes after acceptance

    admin_api.cancel_access_request(gate.repo, user.name)  # back to pending: access is withdrawn at once
    assert [r.username for r in admin_api.list_pending_access_requests(gate.repo)] == [user.name]
    with pytest.raises(GatedRepoError):
        _download(user, gate.repo, hf_cache, "README.md")

    request_id = next(iter(admin_api.list_pending_access_requests(gate.repo))).request_id
    admin_api.reject_access_request(gate.repo, request_id=request_id, rejection_reason="Not now")
    assert [r.username for r in admin_api.list_rejected_access_requests(gate.repo)] == [user.name]
    assert _ask(gate.server_url, user, gate.repo).status_code == 403  # a rejected user cannot ask again

    admin_api.grant_access(gate.repo, user.name)
    assert [r.username for r in admin_api.list_accepted_access_requests(gate.repo)] == [user.name]
    assert _download(user, gate.repo, hf_cache, "README.md") == CARD
    with pytest.raises(HfHubHTTPError) as again:
        admin_api.grant_access(gate.repo, user.name)
    assert again.value.response.status_code == 400


def test_grant_to_a_user_who_never_asked(gate: Gate, server, hf_cache: Path):
    user = make_person(server, "granted")
    HfApi(token=gate.admin.token).grant_access(gate.repo, user.name)
    snapshot = snapshot_download(gate.repo, cache_dir=hf_cache, token=user.token)
    assert (Path(snapshot) / "weights.bin").read_bytes() == WEIGHTS


def test_only_repo_admins_manage_requests(gate: Gate, server):
    user = make_person(server, "nosy")
    for person in (user, gate.member):  # an outsider, and a read member of the organization
        api = HfApi(token=person.token)
        with pytest.raises(HfHubHTTPError) as refused:
            list(api.list_pending_access_requests(gate.repo))
        assert refused.value.response.status_code == 403
        with pytest.raises(HfHubHTTPError):
            api.grant_access(gate.repo, user.name)


def test_auto_gating_grants_at_once(gate: Gate, server, hf_cache: Path):
    repo = _make_gated(server, gate.admin, gate.org, "auto-model", "auto")
    user = make_person(server, "eager")
    with pytest.raises(GatedRepoError):
        _download(user, repo, hf_cache)
    asked = _ask(gate.server_url, user, repo)
    assert asked.status_code == 200 and asked.json()["status"] == "accepted", asked.text
    assert _download(user, repo, hf_cache) == WEIGHTS
    assert [r.username for r in HfApi(token=gate.admin.token).list_accepted_access_requests(repo)] == [user.name]


def test_the_web_form_posts_form_encoded(gate: Gate, server):
    repo = _make_gated(server, gate.admin, gate.org, "form-model", "manual")
    user = make_person(server, "form")
    form = {**ANSWERS, "I agree to the license": "on"}
    asked = httpx.post(
        f"{server.url}/api/models/{repo}/ask-access",
        data=form,
        headers={"Authorization": f"Bearer {user.token}"},
    )
    assert asked.status_code == 200 and asked.json()["status"] == "pending", asked.text
    anonymous = httpx.post(f"{server.url}/api/models/{repo}/ask-access", json=ANSWERS)
    assert anonymous.status_code == 401


def test_gating_is_a_setting_and_is_audited(gate: Gate, server):
    repo = _make_gated(server, gate.admin, gate.org, "switch-model", "manual")
    api = HfApi(token=gate.admin.token)
    api.update_repo_settings(repo, gated=False)
    assert api.model_info(repo).gated is False
    user = make_person(server, "free")
    assert HfApi(token=user.token).hf_hub_download(repo, "README.md") is not None
    refused = httpx.put(
        f"{server.url}/api/models/{repo}/settings",
        json={"gated": "sometimes"},
        headers={"Authorization": f"Bearer {gate.admin.token}"},
    )
    assert refused.status_code == 400
    events = server.admin("audit")
    assert "repo.gating-changed" in events and "access.granted" in events


def test_a_signed_download_url_stops_when_access_is_withdrawn(gate: Gate, server):
    user = make_person(server, "withdrawn")
    admin_api = HfApi(token=gate.admin.token)
    admin_api.grant_access(gate.repo, user.name)
    batch = httpx.post(
        f"{server.url}/{gate.repo}.git/info/lfs/objects/batch",
        json={"operation": "download", "objects": [{"oid": sha256_bytes(WEIGHTS), "size": len(WEIGHTS)}]},
        headers={"Accept": LFS_CONTENT_TYPE, "Content-Type": LFS_CONTENT_TYPE, "Authorization": f"Bearer {user.token}"},
    )
    assert batch.status_code == 200, batch.text
    href = batch.json()["objects"][0]["actions"]["download"]["href"]
    assert httpx.get(href).content == WEIGHTS
    admin_api.cancel_access_request(gate.repo, user.name)
    assert httpx.get(href).status_code == 403


@pytest.fixture
def xet(monkeypatch, tmp_path: Path) -> None:
    """Let huggingface_hub use hf_xet in this test (conftest turns it off for the session)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "xet-cache"))
    monkeypatch.setenv("HF_XET_TELEMETRY_ENABLED", "false")


def test_xet_reads_are_gated_and_a_cas_token_dies_with_the_access(gate: Gate, server, xet, hf_cache: Path):
    repo = _make_gated(server, gate.admin, gate.org, "xet-model", "manual")  # uploaded through hf_xet
    owner = {"Authorization": f"Bearer {gate.admin.token}"}
    xet_hash = httpx.head(f"{server.url}/{repo}/resolve/main/weights.bin", headers=owner).headers["x-xet-hash"]
    user = make_person(server, "xet-reader")
    with pytest.raises(GatedRepoError):
        _download(user, repo, hf_cache)
    HfApi(token=gate.admin.token).grant_access(repo, user.name)
    assert _download(user, repo, hf_cache) == WEIGHTS  # through the Xet read token and reconstructions
    token = httpx.get(
        f"{server.url}/api/models/{repo}/xet-read-token/main", headers={"Authorization": f"Bearer {user.token}"}
    ).json()
    cas = {"Authorization": f"Bearer {token['accessToken']}"}
    assert httpx.get(f"{token['casUrl']}/v1/reconstructions/{xet_hash}", headers=cas).status_code == 200
    HfApi(token=gate.admin.token).cancel_access_request(repo, user.name)
    assert httpx.get(f"{token['casUrl']}/v1/reconstructions/{xet_hash}", headers=cas).status_code == 401


def test_no_side_door_reads_a_gated_repos_files(gate: Gate, server):
    """Found by review: a cross-repo copy, a pull request's diff and a Xet write token must not get past the gate."""
    outsider = make_person(server, "side-door")
    headers = {"Authorization": f"Bearer {outsider.token}"}
    api = HfApi(endpoint=server.url, token=outsider.token)
    own = api.create_repo(f"{outsider.name}/copy").repo_id
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        (weights,) = [e for e in client.get(f"/api/models/{gate.repo}/tree/main").json() if e["path"] == "weights.bin"]
        copy = client.post(
            f"/api/models/{gate.repo}/lfs-files/duplicate",
            json={"target": {"type": "model", "name": own}, "files": [{"sha256": weights["lfs"]["oid"]}]},
        )
        assert (copy.status_code, copy.headers.get("x-error-code")) == (403, "GatedRepo"), copy.text
        opened = client.post(f"/api/models/{gate.repo}/discussions", json={"title": "A change", "description": "x"})
        assert opened.status_code == 200, opened.text
        num = opened.json()["num"]
        assert client.get(f"/api/models/{gate.repo}/discussions/{num}").status_code == 200
        diff = client.get(f"/api/models/{gate.repo}/discussions/{num}", params={"diff": "1"})
        assert (diff.status_code, diff.headers.get("x-error-code")) == (403, "GatedRepo"), diff.text
        write = client.get(f"/api/models/{gate.repo}/xet-write-token/main")
        assert write.status_code == 200, write.text  # contributors may upload
        cas = httpx.get(
            f"{write.json()['casUrl']}/v1/reconstructions/{'0' * 64}",
            headers={"Authorization": f"Bearer {write.json()['accessToken']}"},
            timeout=60,
        )
        assert cas.status_code == 401, cas.text  # but a write token reads nothing behind the gate
