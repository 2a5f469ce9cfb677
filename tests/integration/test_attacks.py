"""Attacks found by review: each test replays one, against a live server, with the fix's expected answer."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from pathlib import Path

import httpx
from huggingface_hub import HfApi

from helpers import error_text, header_line, lfs_batch, lfs_file_line, ndjson, post_commit, sha256_bytes

CHUNK = 16 * 1024 * 1024  # MODELYARD_LFS_MULTIPART_CHUNK_SIZE set by conftest


def _branches(api: HfApi, rid: str) -> dict[str, str]:
    return {b.name: b.target_commit for b in api.list_repo_refs(rid).branches}


def test_a_nul_byte_in_a_revision_names_no_ref(api: HfApi, alice_http: httpx.Client, make_repo):
    """libgit2 reads ref names as C strings: `main\\0x` was `main`. Deleting `main%00` deleted the default
    branch past its guard, and a commit to `main%00x` landed on main."""
    rid = make_repo({"file.txt": b"one\n"})
    before = _branches(api, rid)

    deleted = alice_http.delete(f"/api/models/{rid}/branch/main%00")
    assert deleted.status_code in (400, 404), deleted.text
    assert _branches(api, rid) == before

    lines = [
        {"key": "header", "value": {"summary": "through a NUL"}},
        {"key": "file", "value": {"path": "n.txt", "content": "aGk=", "encoding": "base64"}},
    ]
    body = "\n".join(json.dumps(line) for line in lines)
    committed = alice_http.post(
        f"/api/models/{rid}/commit/main%00x", content=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert committed.status_code in (400, 404), committed.text
    assert _branches(api, rid) == before

    for path in (f"/api/models/{rid}/revision/main%00", f"/{rid}/resolve/main%00/file.txt"):
        response = alice_http.get(path)
        assert response.status_code in (400, 404), (path, response.text)


def test_a_retried_multipart_completion_succeeds(alice_http: httpx.Client, http: httpx.Client, make_repo):
    """A client that timed out waiting for a completion (joining and hashing a large object takes a while) and
    sends it again was told 400 "part 1 was never uploaded": the first completion had removed the parts."""
    rid = make_repo()
    data = os.urandom(CHUNK + 1000)
    oid = sha256_bytes(data)
    batch = lfs_batch(alice_http, rid, [(oid, len(data))])
    assert batch.status_code == 200, error_text(batch)
    upload = batch.json()["objects"][0]["actions"]["upload"]
    chunk = int(upload["header"]["chunk_size"])
    numbers = sorted(int(key) for key in upload["header"] if key.isdigit())
    for number in numbers:
        part = http.put(upload["header"][str(number)], content=data[(number - 1) * chunk : number * chunk])
        assert part.status_code == 200, error_text(part)
    completion = {"oid": oid, "parts": [{"partNumber": number, "etag": "-"} for number in numbers]}

    for attempt in range(2):
        completed = http.post(upload["href"], json=completion)
        assert completed.status_code == 200, (attempt, error_text(completed))

    commit = post_commit(alice_http, rid, ndjson(header_line("parts"), lfs_file_line("big.bin", oid, len(data))))
    assert commit.status_code == 200, error_text(commit)


def _receive_pack_request(commands: list[str]) -> bytes:
    """A raw git-receive-pack request: the ref commands as pkt-lines, then an empty pack."""
    lines = [f"{command}\0 report-status\n" if index == 0 else f"{command}\n" for index, command in enumerate(commands)]
    body = b"".join(b"%04x" % (len(line.encode()) + 4) + line.encode() for line in lines) + b"0000"
    pack = b"PACK" + struct.pack(">II", 2, 0)
    return body + pack + hashlib.sha1(pack).digest()


def test_a_crafted_push_ref_name_removes_no_file(server, alice, alice_http: httpx.Client, make_repo, tmp_path: Path):
    """The pre-receive hook cleared stale `<ref>.lock` files for the ref names the client sent, before git
    itself refuses the odd ones: `modelyard-writer` removed the repository's writer lock (the next writer then
    locked a new file while the push held the old one), and `refs/../../…` any `.lock` file of the server user."""
    rid = make_repo({"file.txt": b"one\n"})
    head = alice_http.get(f"/api/models/{rid}/revision/main").json()["sha"]
    writer_locks = {path: path.stat().st_ino for path in server.data_dir.glob("git/*/*.git/modelyard-writer.lock")}
    victim = tmp_path / "victim.lock"
    victim.write_text("not git's")
    os.utime(victim, (time.time() - 3600, time.time() - 3600))
    escape = "refs/" + "../" * 40 + str(victim.with_suffix("")).lstrip("/")

    response = httpx.post(
        f"{server.url}/{rid}.git/git-receive-pack",
        content=_receive_pack_request([f"{'0' * 40} {head} modelyard-writer", f"{'0' * 40} {head} {escape}"]),
        headers={"Content-Type": "application/x-git-receive-pack-request"},
        auth=(alice.name, alice.token),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert b"unpack ok" in response.content
    assert victim.exists()
    assert {path: path.stat().st_ino for path in writer_locks if path.exists()} == writer_locks
