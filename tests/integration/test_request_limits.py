"""Bounded work per request, and slow clients cut off: against live servers, with raw sockets where the point is
what a misbehaving client does on the wire.

The main server runs with the default deadlines; a second one (`limited`) has 2-second deadlines and a 1 MiB
multipart part size, so that the timeouts and the growth of the part size show within seconds.
"""

from __future__ import annotations

import contextlib
import math
import os
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.lfs import lfs_upload

from helpers import (
    error_text,
    file_line,
    header_line,
    lfs_batch,
    lfs_file_line,
    ndjson,
    post_commit,
    repo_state,
    sha256_bytes,
)

GiB = 1024**3
MiB = 1024**2
HUGE = "9" * 4301  # past Python's 4,300-digit limit for int()
TIMEOUT = 2  # seconds: every deadline of the `limited` server
MARGIN = 4  # seconds of slack on a shared 2-CPU machine
LOG_PROBLEMS = ("Traceback", "Unhandled", "ERROR", "WARNING")


class LogSlice:
    """The lines a server logged since this object was created."""

    def __init__(self, server) -> None:
        self.server = server
        self.start = len(server.log_text())

    def text(self) -> str:
        return self.server.log_text()[self.start :]

    def wait_for(self, needle: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while needle not in self.text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert needle in self.text(), f"{needle!r} never logged:\n{self.text()[-3000:]}"
        return self.text()

    def assert_clean(self) -> None:
        problems = [line for line in self.text().splitlines() if any(word in line for word in LOG_PROBLEMS)]
        assert not problems, "\n".join(problems[:20])


@pytest.fixture(scope="module")
def limited(tmp_path_factory) -> Iterator:
    from conftest import launch_server

    env = {
        "MODELYARD_HEADER_TIMEOUT_SECONDS": str(TIMEOUT),
        "MODELYARD_BODY_IDLE_TIMEOUT_SECONDS": str(TIMEOUT),
        "MODELYARD_RESPONSE_IDLE_TIMEOUT_SECONDS": str(TIMEOUT),
        "MODELYARD_LFS_MULTIPART_CHUNK_SIZE": str(MiB),
        "MODELYARD_XET_CONVERT_LFS": "false",
    }
    with launch_server(tmp_path_factory.mktemp("limited"), extra_env=env) as server:
        yield server


@pytest.fixture(scope="module")
def carol_token(limited) -> str:
    limited.create_user("carol")
    return limited.create_token("carol", "write")


@pytest.fixture(scope="module")
def limited_api(limited, carol_token: str) -> HfApi:
    return HfApi(endpoint=limited.url, token=carol_token)


@pytest.fixture
def carol_http(limited, carol_token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=limited.url, headers={"Authorization": f"Bearer {carol_token}"}, timeout=60) as client:
        yield client


def _connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    received = bytearray()
    while chunk := sock.recv(1 << 20):
        received += chunk
    return bytes(received)


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


# --- LFS batch -------------------------------------------------------------------------------------------
def _oids(count: int) -> list[str]:
    return [sha256_bytes(os.urandom(16)) for _ in range(count)]


def test_lfs_batch_names_at_most_1000_objects(alice_http: httpx.Client, make_repo):
    rid = make_repo()
    response = lfs_batch(alice_http, rid, [(oid, 1) for oid in _oids(1001)])
    assert response.status_code == 413, error_text(response)
    assert "at most 1000 objects" in error_text(response)


def test_lfs_batch_of_1000_largest_objects_stays_small(alice_http: httpx.Client, make_repo):
    rid = make_repo()
    started = time.monotonic()
    response = lfs_batch(alice_http, rid, [(oid, 50 * GiB) for oid in _oids(1000)])
    elapsed = time.monotonic() - started
    assert response.status_code == 200, error_text(response)
    # Before the budget: 800,000 signed part URLs, 173 MB of JSON, a minute of work.
    assert len(response.content) < 4_000_000, len(response.content)
    assert elapsed < 30, elapsed
    part_urls = 0
    for answer in response.json()["objects"]:
        header = answer["actions"]["upload"]["header"]
        parts = [key for key in header if key.isdigit()]
        assert len(parts) == math.ceil(50 * GiB / int(header["chunk_size"]))  # what huggingface_hub checks
        part_urls += len(parts)
    assert part_urls <= 10_000


def test_multipart_upload_with_grown_parts_round_trips(
    limited, limited_api: HfApi, carol_http: httpx.Client, carol_token: str, tmp_path
):
    """Many large objects in one batch: each gets fewer, larger parts, and the stock client uploads them."""
    rid = limited_api.create_repo("carol/grown-parts").repo_id
    data = os.urandom(12 * MiB + 123)
    oid = sha256_bytes(data)
    objects = [(oid, len(data)), *((other, 50 * GiB) for other in _oids(999))]
    response = lfs_batch(carol_http, rid, objects)
    assert response.status_code == 200, error_text(response)
    action = response.json()["objects"][0]
    header = action["actions"]["upload"]["header"]
    assert int(header["chunk_size"]) > MiB  # 10 parts at most for each of 1000 objects
    assert len([key for key in header if key.isdigit()]) == 10

    source = tmp_path / "weights.bin"
    source.write_bytes(data)
    operation = CommitOperationAdd(path_in_repo="weights.bin", path_or_fileobj=str(source))
    lfs_upload(operation, action, token=carol_token, endpoint=limited.url)  # parts, completion, verify

    commit = post_commit(carol_http, rid, ndjson(header_line("grown"), lfs_file_line("weights.bin", oid, len(data))))
    assert commit.status_code == 200, error_text(commit)
    assert carol_http.get(f"/{rid}/resolve/main/weights.bin", follow_redirects=True).content == data


# --- over-long numbers -----------------------------------------------------------------------------------
def test_over_long_numbers_are_clean_4xx(server, http: httpx.Client, alice_http: httpx.Client, make_repo):
    rid = make_repo({"a.txt": b"0123456789"})
    log = LogSlice(server)
    for header in (f"bytes={HUGE}-", f"bytes=-{HUGE}", f"bytes=0-{HUGE}"):
        response = http.get(f"/{rid}/resolve/main/a.txt", headers={"Range": header})
        assert response.status_code == 416, error_text(response)
        assert response.headers["Content-Range"] == "bytes */10"
    for name in ("cursor", "limit"):
        for value in (HUGE, "²"):
            response = http.get(f"/api/models/{rid}/tree/main", params={name: value})
            assert response.status_code == 400, error_text(response)
            assert f"Invalid {name}" in error_text(response)
    token = f"xet2.{HUGE}.read.{HUGE}.{HUGE}." + "0" * 64
    response = http.get("/xet-cas/v1/reconstructions/" + "0" * 64, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, error_text(response)
    response = http.get("/xet-cas/v1/fetch/" + "0" * 64, params={"r": f"{HUGE}-{HUGE}", "exp": "1", "sig": "x"})
    assert response.status_code == 400, error_text(response)
    response = http.get(f"/api/lfs/1/{'0' * 64}", params={"size": HUGE, "exp": HUGE, "sig": "x"})
    assert response.status_code == 400, error_text(response)
    with _connect(server) as sock:  # httpx refuses to send such a header
        head = f"POST /api/models/{rid}/preupload/main HTTP/1.1\r\nHost: x\r\nContent-Length: {HUGE}\r\n\r\n"
        sock.sendall(head.encode())
        assert _read_until_closed(sock, 10).startswith(b"HTTP/1.1 400 ")
    time.sleep(0.5)
    assert "Traceback" not in log.text() and "Unhandled" not in log.text(), log.text()[-3000:]


# --- commits ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "second",
    [
        file_line("a.txt", b"other"),
        lfs_file_line("a.txt", "a" * 64, 10),
        {"key": "deletedFile", "value": {"path": "a.txt"}},
    ],
    ids=["file", "lfsFile", "deletedFile"],
)
def test_a_commit_naming_a_path_twice_is_400_and_changes_nothing(api, alice_http: httpx.Client, make_repo, second):
    rid = make_repo({"a.txt": b"first"})
    before = repo_state(api, rid)
    response = post_commit(alice_http, rid, ndjson(header_line("twice"), file_line("a.txt", b"new"), second))
    assert response.status_code == 400, error_text(response)
    assert "a.txt more than once" in error_text(response)
    assert repo_state(api, rid) == before


# --- clients that hang up or stall -----------------------------------------------------------------------
def _upload_url(client: httpx.Client, rid: str, size: int) -> str:
    response = lfs_batch(client, rid, [(sha256_bytes(os.urandom(8)), size)])
    assert response.status_code == 200, error_text(response)
    url = urlsplit(response.json()["objects"][0]["actions"]["upload"]["href"])
    return f"{url.path}?{url.query}"


def test_a_client_hanging_up_mid_upload_is_an_info_line(server, alice_http: httpx.Client, make_repo):
    rid = make_repo()
    target = _upload_url(alice_http, rid, MiB)
    log = LogSlice(server)
    with _connect(server) as sock:
        sock.sendall(f"PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {MiB}\r\n\r\n".encode())
        sock.sendall(os.urandom(100_000))
    text = log.wait_for("Client disconnected before the end of the request body")
    assert "INFO:     Client disconnected" in text
    log.assert_clean()
    assert httpx.get(f"{server.url}/api/health").status_code == 200


def test_slowloris_connections_are_closed_while_others_are_served(limited):
    """Connections that send a header byte every half second, or nothing at all, are all closed at the header
    deadline, and a normal request is answered meanwhile."""
    count = 300
    selector = selectors.DefaultSelector()
    opened: dict[socket.socket, float] = {}
    silent: set[socket.socket] = set()
    for number in range(count):
        sock = _connect(limited)
        opened[sock] = time.monotonic()
        if number % 10:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        else:
            silent.add(sock)  # every tenth connection sends nothing at all
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    closed_after: list[float] = []
    answered = None
    deadline = time.monotonic() + TIMEOUT + MARGIN
    while opened and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            with contextlib.suppress(ConnectionResetError):
                sock.recv(4096)  # the 408, or the end of the stream: either way the server is done with it
            closed_after.append(time.monotonic() - opened.pop(sock))
            selector.unregister(sock)
            sock.close()
        for sock in opened.keys() - silent:
            with contextlib.suppress(OSError):
                sock.send(b"X")
        if answered is None:
            started = time.monotonic()
            assert httpx.get(f"{limited.url}/api/health", timeout=10).status_code == 200
            answered = time.monotonic() - started
    for sock in opened:
        sock.close()
    assert not opened, f"{len(opened)} of {count} slow connections still open after {TIMEOUT + MARGIN}s"
    assert min(closed_after) >= TIMEOUT - 0.5, "closed before the deadline"
    assert answered is not None and answered < 2


def test_oversized_or_overfull_request_heads_are_431(limited):
    for head in (
        b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\n\r\n",
        b"GET /api/health HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(150)) + b"\r\n",
    ):
        with _connect(limited) as sock:
            sock.sendall(head)
            assert _read_until_closed(sock, 10).startswith(b"HTTP/1.1 431 ")
    assert httpx.get(f"{limited.url}/api/health").status_code == 200


def test_a_stalled_request_body_is_cut_off(limited, limited_api: HfApi, carol_http: httpx.Client):
    rid = limited_api.create_repo("carol/stalled-body").repo_id
    target = _upload_url(carol_http, rid, MiB)
    log = LogSlice(limited)
    with _connect(limited) as sock:
        started = time.monotonic()
        sock.sendall(f"PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {MiB}\r\n\r\n".encode() + b"x" * 1000)
        _read_until_closed(sock, TIMEOUT + MARGIN)  # a timeout here would raise
        assert TIMEOUT - 0.5 <= time.monotonic() - started <= TIMEOUT + MARGIN
    log.wait_for("Client disconnected before the end of the request body")
    assert "no request body byte for 2 seconds" in log.text()
    log.assert_clean()


def _store_big_file(api: HfApi, http: httpx.Client, name: str, data: bytes, how: str) -> str:
    """A repo holding `data` as big.dat: in git (streamed from memory) or as an LFS blob (sent with sendfile)."""
    rid = api.create_repo(f"carol/{name}-{how}").repo_id
    if how == "lfs":
        api.upload_file(path_or_fileobj=data, path_in_repo="big.dat", repo_id=rid)
        assert api.get_paths_info(rid, ["big.dat"])[0].lfs is not None
    else:
        commit = post_commit(http, rid, ndjson(header_line("big"), file_line("big.dat", data)))
        assert commit.status_code == 200, error_text(commit)
    return rid


@pytest.mark.parametrize("how", ["git", "lfs"])
def test_a_client_that_stops_reading_is_dropped_without_growing_the_server(
    limited, limited_api: HfApi, carol_http: httpx.Client, how: str
):
    data = os.urandom(9 * MiB)
    rid = _store_big_file(limited_api, carol_http, "stalled-download", data, how)
    log = LogSlice(limited)
    rss_before = _rss_kib(limited.proc.pid)
    readers = []
    for _ in range(3):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel must not swallow the file
        sock.connect(("127.0.0.1", limited.port))
        sock.sendall(f"GET /{rid}/resolve/main/big.dat HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        readers.append(sock)
    aborted = "accepted no response byte for 2 seconds"
    deadline = time.monotonic() + 30  # however slow the machine is to start the responses
    while log.text().count(aborted) < len(readers) and time.monotonic() < deadline:
        time.sleep(0.2)
    for sock in readers:
        with sock:
            received = _read_until_closed(sock, MARGIN)
            assert len(received) < len(data), "the whole file fit in the socket buffers: nothing was tested"
    assert log.text().count(aborted) == len(readers)
    assert _rss_kib(limited.proc.pid) - rss_before < 30 * 1024
    log.assert_clean()


def test_an_lfs_download_hung_up_midway_leaves_a_clean_log_and_a_serving_server(
    limited, limited_api: HfApi, carol_http: httpx.Client
):
    data = os.urandom(9 * MiB)
    rid = _store_big_file(limited_api, carol_http, "hung-up-download", data, "lfs")
    log = LogSlice(limited)
    for range_header in ("", "Range: bytes=1000-\r\n"):
        with _connect(limited) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(f"GET /{rid}/resolve/main/big.dat HTTP/1.1\r\nHost: x\r\n{range_header}\r\n".encode())
            assert sock.recv(4096).startswith(b"HTTP/1.1 20")
        # the next request on a fresh connection is served in full, from the same file
        whole = carol_http.get(f"/{rid}/resolve/main/big.dat", headers={"Range": "bytes=5-"})
        assert whole.status_code == 206 and whole.content == data[5:]
    assert log.text().count('/resolve/main/big.dat HTTP/1.1" 20') == 4
    log.assert_clean()
