"""Committed content is immutable: a sha256 named by a committed LFS pointer always serves bytes with that sha256.

A Xet shard's sha256 is a client claim. These tests play a writer of the repository who uploads a shard claiming
the sha256 and size of an already-committed file, and check that every way of downloading that file, pinned to
the old commit, still returns the original bytes; and that a commit naming a sha256 backed only by a false claim
is refused. `modelyard admin fsck` re-hashes what every pointer resolves to.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from helpers import error_text, header_line, lfs_file_line, ndjson, post_commit, sha256_bytes
from helpers.xet import build_upload, upload_by_hand


def _download(repo_id: str, path: str, revision: str, cache: Path, monkeypatch, *, use_xet: bool) -> bytes:
    from huggingface_hub import constants, hf_hub_download

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", not use_xet)
    monkeypatch.setenv("HF_XET_CACHE", str(cache / "xet-cache"))
    return Path(hf_hub_download(repo_id, path, revision=revision, cache_dir=cache / "hf")).read_bytes()


def _head(api, repo_id: str) -> str:
    return api.list_repo_refs(repo_id).branches[0].target_commit


@pytest.mark.parametrize("origin", ["xet", "lfs"])
def test_a_shard_claiming_a_committed_sha256_never_changes_its_bytes(
    origin, server, api, alice_http, http, repo_id, monkeypatch, tmp_path
):
    from huggingface_hub import constants

    original = os.urandom(300 * 1024)
    oid = sha256_bytes(original)
    api.create_repo(repo_id)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", origin != "xet")
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "upload-cache"))
    api.upload_file(path_or_fileobj=original, path_in_repo="weights.bin", repo_id=repo_id)
    commit = _head(api, repo_id)
    before = http.head(f"/{repo_id}/resolve/{commit}/weights.bin")

    # A refuted claim of another sha256 in the same repository: refuted mappings may be replaced, others not.
    other = build_upload(os.urandom(1000), claimed_sha256=sha256_bytes(b"something else"))
    assert upload_by_hand(alice_http, repo_id, other).status_code == 200
    refused = post_commit(alice_http, repo_id, ndjson(header_line("x"), lfs_file_line("x", other.sha256, 1000)))
    assert refused.status_code == 400, error_text(refused)

    # A writer of the repository uploads other bytes of the same size under the committed sha256.
    forged = build_upload(os.urandom(len(original)), claimed_sha256=oid)
    answer = upload_by_hand(alice_http, repo_id, forged)
    assert answer.status_code < 500, error_text(answer)

    for number, use_xet in enumerate((False, True, False, True)):
        revision = commit if number < 2 else "main"
        got = _download(repo_id, "weights.bin", revision, tmp_path / f"cache{number}", monkeypatch, use_xet=use_xet)
        assert got == original, f"download {number} (xet={use_xet}, revision={revision}) served other bytes"
    assert http.get(f"/{repo_id}/resolve/{commit}/weights.bin").content == original
    ranged = http.get(f"/{repo_id}/resolve/{commit}/weights.bin", headers={"Range": "bytes=100-199"})
    assert ranged.content == original[100:200]
    after = http.head(f"/{repo_id}/resolve/{commit}/weights.bin")
    if origin == "xet":
        assert after.headers["x-xet-hash"] == before.headers["x-xet-hash"]
    assert after.headers.get("x-xet-hash") != forged.file_hash
    assert after.headers["etag"] == before.headers["etag"]
    assert _head(api, repo_id) == commit


def test_a_commit_naming_a_false_xet_claim_is_refused(make_repo, api, alice_http, http):
    repo_id = make_repo({"README.md": b"hello\n"})
    head = _head(api, repo_id)
    truth = os.urandom(200 * 1024)
    oid = sha256_bytes(truth)
    lie = build_upload(os.urandom(len(truth)), claimed_sha256=oid)
    assert upload_by_hand(alice_http, repo_id, lie).status_code == 200

    response = post_commit(alice_http, repo_id, ndjson(header_line("lie"), lfs_file_line("lie.bin", oid, len(truth))))
    assert response.status_code == 400, error_text(response)
    assert "lie.bin" in error_text(response) and oid in error_text(response)
    assert _head(api, repo_id) == head
    assert http.get(f"/{repo_id}/resolve/main/lie.bin").status_code == 404

    # The refuted claim blocks nothing: the true bytes uploaded under that sha256 can be committed.
    assert upload_by_hand(alice_http, repo_id, build_upload(truth)).status_code == 200
    response = post_commit(alice_http, repo_id, ndjson(header_line("truth"), lfs_file_line("t.bin", oid, len(truth))))
    assert response.status_code == 200, error_text(response)
    assert http.get(f"/{repo_id}/resolve/main/t.bin").content == truth


def test_a_contributors_false_claim_cannot_block_the_writers_upload(
    server, api, bob, http, repo_id, monkeypatch, tmp_path
):
    """Anyone who can read a public repository may upload through Xet (for a pull request). A false claim of the
    sha256 of a file the writer is about to upload, recorded unhashed, would stand in front of the real file and
    refuse the writer's commit (as often as the contributor repeats it): a contributor's claims are hashed first."""
    from huggingface_hub import constants

    api.create_repo(repo_id)
    data = os.urandom(300 * 1024)
    oid = sha256_bytes(data)
    with httpx.Client(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {bob.token}"}) as bob_http:
        lie = build_upload(os.urandom(len(data)), claimed_sha256=oid)
        refused = upload_by_hand(bob_http, repo_id, lie)

        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
        monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "upload-cache"))
        api.upload_file(path_or_fileobj=data, path_in_repo="weights.bin", repo_id=repo_id)  # the first try lands
        assert refused.status_code == 400, error_text(refused)
        assert lie.file_hash in error_text(refused) and sha256_bytes(lie.data) in error_text(refused)

        # Again, now that the sha256 is committed, and with the true bytes (a contributor's real upload): the lie is
        # refused, the truth accepted.
        assert (
            upload_by_hand(bob_http, repo_id, build_upload(os.urandom(len(data)), claimed_sha256=oid)).status_code
            == 400
        )
        assert upload_by_hand(bob_http, repo_id, build_upload(data)).status_code == 200
    api.upload_file(path_or_fileobj=data, path_in_repo="again.bin", repo_id=repo_id)
    for path in ("weights.bin", "again.bin"):
        for number, use_xet in enumerate((False, True)):
            got = _download(repo_id, path, "main", tmp_path / f"{path}-{number}", monkeypatch, use_xet=use_xet)
            assert got == data, f"{path} (xet={use_xet}) served other bytes"


def test_concurrent_commits_of_one_xet_upload_hash_it_once(server, make_repo, alice_http, http):
    """Two commits naming the sha256 of one Xet upload at the same time: one hashes the file, the other waits for it
    and uses the result (the server logs each hash it computes)."""
    repo_id = make_repo({"README.md": b"hello\n"})
    data = os.urandom(24 * 1024 * 1024)
    upload = build_upload(data, chunk_size=64 * 1024)
    assert upload_by_hand(alice_http, repo_id, upload).status_code == 200

    def commit(path: str) -> int:
        body = ndjson(header_line(path), lfs_file_line(path, upload.sha256, len(data)))
        return post_commit(alice_http, repo_id, body).status_code

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(commit, ["a.bin", "b.bin"])) == [200, 200]
    assert server.log_text().count(f"Hashed Xet file {upload.file_hash} ") == 1
    assert http.get(f"/{repo_id}/resolve/main/b.bin").content == data


def _fsck(server, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "modelyard", "admin", "fsck", *args]
    command += ["--data-dir", str(server.data_dir), "--database-url", server.db_url]
    return subprocess.run(command, env=server.env, capture_output=True, text=True, timeout=120)


def _flip_a_byte(path: Path) -> None:
    corrupt = bytearray(path.read_bytes())
    corrupt[len(corrupt) // 2] ^= 0xFF  # random bytes are stored raw: this changes the content
    path.write_bytes(bytes(corrupt))


def test_fsck_rehashes_every_pointer_and_names_corrupt_content(server, api, make_repo, alice_http):
    data = os.urandom(100 * 1024)
    oid = sha256_bytes(data)
    repo_id = make_repo({"model.bin": data, "README.md": b"# a model\n"})  # Xet off: an LFS blob
    by_xet = build_upload(os.urandom(90 * 1024))
    assert upload_by_hand(alice_http, repo_id, by_xet).status_code == 200
    body = ndjson(header_line("xet"), lfs_file_line("xet.bin", by_xet.sha256, len(by_xet.data)))
    assert post_commit(alice_http, repo_id, body).status_code == 200
    api.create_branch(repo_id, branch="dev")
    api.create_tag(repo_id, tag="v1")

    clean = _fsck(server, "--repo", repo_id)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.strip().endswith(": 0 problems") and "6 LFS pointers at 3 refs" in clean.stdout

    _flip_a_byte(server.data_dir / "lfs" / "objects" / oid[:2] / oid[2:4] / oid)
    h = by_xet.xorb_hash
    _flip_a_byte(server.data_dir / "xet" / "xorbs" / h[:2] / h[2:4] / h)

    broken = _fsck(server, "--repo", repo_id)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    for path, sha256 in (("model.bin", oid), ("xet.bin", by_xet.sha256)):
        lines = [line for line in broken.stdout.splitlines() if f" {path}: " in line]
        refs = {line.split()[1] for line in lines}
        assert {"refs/heads/main", "refs/heads/dev", "refs/tags/v1"} == refs, broken.stdout
        assert all(line.startswith(f"{repo_id} ") and sha256 in line for line in lines), broken.stdout
    assert "README.md" not in broken.stdout
    assert broken.stdout.strip().endswith(": 6 problems")
