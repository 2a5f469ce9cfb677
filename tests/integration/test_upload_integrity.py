"""An LFS upload whose bytes are wrong or incomplete publishes nothing: no blob the repository may reference,
no commit, no file, no temp file left. Checked for the multipart transfer with one bad part, a part cut off
mid-body, parts of the wrong length, for a basic upload cut off mid-body or with other bytes than announced, and
for the real huggingface_hub client killed between two parts of a multipart upload. Under `modelyard serve` these
bodies take the server's own receive path (http_protocol.py, `modelyard.receive_into`)."""

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


def _send_and_hang_up(url: str, body: bytes, length: int) -> None:
    """A client that announces `length` bytes of body, sends `body` and goes away."""
    href = urlsplit(url)
    with socket.create_connection((href.hostname, href.port), timeout=30) as sock:
        head = f"PUT {href.path}?{href.query} HTTP/1.1\r\nHost: {href.netloc}\r\nContent-Length: {length}\r\n\r\n"
        sock.sendall(head.encode() + body)


def _temp_files(server) -> set[Path]:
    return set((server.data_dir / "lfs" / "tmp").iterdir())


def _wait_for_no_new_temp_files(server, before: set[Path]) -> None:
    """The server discards a cut-off body's temp file once it notices the disconnect, asynchronously."""
    deadline = time.monotonic() + 10
    while _temp_files(server) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _temp_files(server) - before


def test_a_part_cut_off_or_of_the_wrong_length_is_not_received(
    server, alice_http: httpx.Client, http: httpx.Client, api, make_repo
):
    rid = make_repo({"seed.txt": b"seed\n"})
    before = repo_state(api, rid)
    data = os.urandom(CHUNK + 4096)
    oid, size = sha256_bytes(data), len(data)
    upload = _upload_actions(alice_http, rid, oid, size)["upload"]
    first, second = upload["header"]["1"], upload["header"]["2"]
    done = _put_parts(http, upload["header"], [data[:CHUNK], data[CHUNK:]])

    _send_and_hang_up(first, data[: CHUNK // 2], CHUNK)  # part 1 again, cut off midway: no longer received
    time.sleep(1)  # the server notices the disconnect asynchronously
    longer = http.put(second, content=data[CHUNK:] + b"x")  # announced longer than the part: refused unread
    assert longer.status_code == 413, error_text(longer)
    shorter = http.put(second, content=data[CHUNK:-1])
    assert shorter.status_code == 400, error_text(shorter)
    assert "bytes, not" in error_text(shorter)
    complete = http.post(upload["href"], json={"oid": oid, "parts": done})
    assert complete.status_code == 400, error_text(complete)
    assert "never uploaded" in error_text(complete)
    _assert_not_published(alice_http, api, rid, oid, size, before)

    done = _put_parts(http, upload["header"], [data[:CHUNK], data[CHUNK:]])  # sent again whole: accepted
    complete = http.post(upload["href"], json={"oid": oid, "parts": done})
    assert complete.status_code == 200, error_text(complete)


def test_basic_upload_of_other_bytes_than_announced_leaves_nothing(
    server, alice_http: httpx.Client, http: httpx.Client, api, make_repo
):
    rid = make_repo({"seed.txt": b"seed\n"})
    before, temp_before = repo_state(api, rid), _temp_files(server)
    data = os.urandom(3 * 1024 * 1024)
    oid, size = sha256_bytes(data), len(data)
    href = _upload_actions(alice_http, rid, oid, size)["upload"]["href"]
    other = http.put(href, content=os.urandom(size))
    assert other.status_code == 400, error_text(other)
    assert "sha256" in error_text(other)
    longer = http.put(href, content=data + b"x")
    assert longer.status_code == 413, error_text(longer)
    _wait_for_no_new_temp_files(server, temp_before)
    _assert_not_published(alice_http, api, rid, oid, size, before)


def test_basic_upload_cut_off_mid_body_publishes_nothing(server, alice_http: httpx.Client, api, make_repo):
    rid = make_repo({"seed.txt": b"seed\n"})
    before, temp_before = repo_state(api, rid), _temp_files(server)
    data = os.urandom(2 * 1024 * 1024)
    oid, size = sha256_bytes(data), len(data)
    _send_and_hang_up(_upload_actions(alice_http, rid, oid, size)["upload"]["href"], data[: size // 2], size)
    _assert_not_published(alice_http, api, rid, oid, size, before)
    _wait_for_no_new_temp_files(server, temp_before)  # the server noticed the disconnect: still nothing
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
