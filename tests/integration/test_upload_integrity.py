"""An LFS upload whose bytes are wrong or incomplete publishes nothing: no blob the repository may reference,
no commit, no file. Checked for the multipart transfer with one bad part, for a basic upload cut off mid-body,
and for the real huggingface_hub client killed between two parts of a multipart upload."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download

from helpers import error_text, header_line, lfs_batch, lfs_file_line, ndjson, post_commit, repo_state, sha256_bytes

CHUNK = 16 * 1024 * 1024  # MODELYARD_LFS_MULTIPART_CHUNK_SIZE set by conftest


def _upload_actions(alice_http: httpx.Client, rid: str, oid: str, size: int) -> dict:
    response = lfs_batch(alice_http, rid, [(oid, size)])
    assert response.status_code == 200, error_text(response)
    (obj,) = response.json()["objects"]
    return obj.get("actions", {})


def _assert_not_published(alice_http: httpx.Client, api: HfApi, rid: str, oid: str, size: int, before) -> None:
    """The object is not in the repository, cannot be committed, and the branch did not move."""
    actions = _upload_actions(alice_http, rid, oid, size)
    assert "upload" in actions, "the server asks for the object again: it was not stored"
    verify = alice_http.post(actions["verify"]["href"], json={"oid": oid, "size": size})
    assert verify.status_code == 404, error_text(verify)
    commit = post_commit(alice_http, rid, ndjson(header_line("claim"), lfs_file_line("claimed.bin", oid, size)))
    assert commit.status_code == 400, error_text(commit)
    assert repo_state(api, rid) == before


def _put_parts(http: httpx.Client, header: dict, parts: list[bytes]) -> list[dict]:
    done = []
    for number, data in enumerate(parts, start=1):
        put = http.put(header[str(number)], content=data)  # signed URLs: no Authorization, like the client
        assert put.status_code == 200, error_text(put)
        done.append({"partNumber": number, "etag": put.headers["ETag"]})
    return done


def test_multipart_upload_with_a_wrong_part_is_refused(alice_http: httpx.Client, http: httpx.Client, api, make_repo):
    rid = make_repo({"seed.txt": b"seed\n"})
    before = repo_state(api, rid)
    data = os.urandom(CHUNK + 1024 * 1024)  # two parts
    oid, size = sha256_bytes(data), len(data)
    upload = _upload_actions(alice_http, rid, oid, size)["upload"]
    assert int(upload["header"]["chunk_size"]) == CHUNK

    bad_second = bytearray(data[CHUNK:])
    bad_second[len(bad_second) // 2] ^= 0xFF  # one flipped byte, same length
    parts = _put_parts(http, upload["header"], [data[:CHUNK], bytes(bad_second)])
    complete = http.post(upload["href"], json={"oid": oid, "parts": parts})
    assert complete.status_code == 400, error_text(complete)
    assert "sha256" in error_text(complete)
    _assert_not_published(alice_http, api, rid, oid, size, before)

    # The same upload with the right bytes goes through, and the file then reads back exactly.
    upload = _upload_actions(alice_http, rid, oid, size)["upload"]
    parts = _put_parts(http, upload["header"], [data[:CHUNK], data[CHUNK:]])
    complete = http.post(upload["href"], json={"oid": oid, "parts": parts})
    assert complete.status_code == 200, error_text(complete)
    commit = post_commit(alice_http, rid, ndjson(header_line("good"), lfs_file_line("big.bin", oid, size)))
    assert commit.status_code == 200, error_text(commit)
    assert http.get(f"/{rid}/resolve/main/big.bin", follow_redirects=True).content == data


def test_multipart_completion_missing_a_part_is_refused(alice_http: httpx.Client, http: httpx.Client, api, make_repo):
    rid = make_repo({"seed.txt": b"seed\n"})
    before = repo_state(api, rid)
    data = os.urandom(CHUNK + 4096)
    oid, size = sha256_bytes(data), len(data)
    upload = _upload_actions(alice_http, rid, oid, size)["upload"]
    parts = _put_parts(http, upload["header"], [data[:CHUNK]])  # part 2 never sent
    complete = http.post(upload["href"], json={"oid": oid, "parts": parts})
    assert complete.status_code == 400, error_text(complete)
    _assert_not_published(alice_http, api, rid, oid, size, before)


def test_basic_upload_cut_off_mid_body_publishes_nothing(alice_http: httpx.Client, api, make_repo):
    rid = make_repo({"seed.txt": b"seed\n"})
    before = repo_state(api, rid)
    data = os.urandom(2 * 1024 * 1024)
    oid, size = sha256_bytes(data), len(data)
    href = urlsplit(_upload_actions(alice_http, rid, oid, size)["upload"]["href"])

    # A client that announces the whole body, sends half of it and goes away.
    with socket.create_connection((href.hostname, href.port), timeout=30) as sock:
        head = f"PUT {href.path}?{href.query} HTTP/1.1\r\nHost: {href.netloc}\r\nContent-Length: {size}\r\n\r\n"
        sock.sendall(head.encode() + data[: size // 2])
    _assert_not_published(alice_http, api, rid, oid, size, before)
    time.sleep(1)  # the server notices the disconnect asynchronously: still nothing once it has
    _assert_not_published(alice_http, api, rid, oid, size, before)


KILLED_CLIENT = textwrap.dedent(
    """
    import io, sys, time
    from pathlib import Path
    from huggingface_hub import CommitOperationAdd, HfApi

    endpoint, token, rid, path, marker, chunk = sys.argv[1:7]


    class StopsAtSecondPart(io.BufferedReader):
        # Reading from the second part on means part 1 is on the server: say so, then hang until killed.
        armed = False

        def read(self, *args):
            if self.armed and self.tell() >= int(chunk):
                Path(marker).write_text("part 1 sent")
                time.sleep(600)
            return super().read(*args)


    source = StopsAtSecondPart(open(path, "rb", buffering=0))
    operation = CommitOperationAdd(path_in_repo="big.bin", path_or_fileobj=source)  # hashes the whole file
    source.armed = True
    HfApi(endpoint=endpoint, token=token).create_commit(rid, [operation], commit_message="never lands")
    """
)


def test_client_killed_during_multipart_upload_publishes_nothing(
    server, alice, alice_http: httpx.Client, api: HfApi, make_repo, big_file, tmp_path: Path, hf_cache: Path
):
    rid = make_repo({"seed.txt": b"seed\n"})
    before = repo_state(api, rid)
    marker = tmp_path / "part-1-sent"
    args = [server.url, alice.token, rid, str(big_file.path), str(marker), str(CHUNK)]
    client = subprocess.Popen([sys.executable, "-c", KILLED_CLIENT, *args], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if client.poll() is not None:
                pytest.fail(f"the client exited ({client.returncode}) before its second part: {client.stderr.read()}")
            assert time.monotonic() < deadline, "the client never reached its second part"
            time.sleep(0.05)
        client.send_signal(signal.SIGKILL)
    finally:
        client.kill()
        client.wait(timeout=30)
        client.stderr.close()

    _assert_not_published(alice_http, api, rid, big_file.sha256, big_file.size, before)
    # A later, complete upload of the same file is not disturbed by the parts left behind.
    api.upload_file(path_or_fileobj=str(big_file.path), path_in_repo="big.bin", repo_id=rid)
    local = hf_hub_download(rid, "big.bin", cache_dir=hf_cache)
    assert sha256_bytes(Path(local).read_bytes()) == big_file.sha256
