"""The upload twin of the zero-copy extensions: `modelyard.receive_into` of our uvicorn protocol (http_protocol.py,
socket_body_receiver.py), spoken by a small ASGI app over raw sockets: the body arrives whole and in order, the
connection then serves the next request (pipelined or not), `Expect: 100-continue` is answered, a chunked body is
left to ASGI's own path, and a client that goes, stalls, or sends what the sink refuses ends the receive cleanly.
The LFS and Xet routes that use it are tested in tests/integration."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import uvicorn

from modelyard.http_protocol import RECEIVE_INTO, ConnectionLimits, LimitedHttpProtocol

IDLE = 1.0
LIMITS = ConnectionLimits(
    header_timeout=5, body_idle_timeout=IDLE, response_idle_timeout=5, max_header_bytes=65536, max_header_count=100
)
REFUSE_AFTER = 1024 * 1024  # bytes the /refusing route's sink takes
outcomes: list[str] = []  # what each receive ended with, as the app saw it


async def _answer(send: Any, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    extension = scope.get("extensions", {}).get(RECEIVE_INTO)
    if extension is None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await _answer(send, 200, f"plain {len(body)} {hashlib.sha256(body).hexdigest()}")
        return
    digest, received = hashlib.sha256(), [0]

    def write(data: memoryview) -> None:
        assert threading.current_thread() is not threading.main_thread()  # the disk's work is off the loop
        if scope["path"] == "/refusing" and received[0] + len(data) > REFUSE_AFTER:
            raise ValueError("the sink is full")
        digest.update(data)
        received[0] += len(data)

    try:
        await extension["receive_into"](write)
    except (ConnectionError, ValueError) as error:
        outcomes.append(type(error).__name__)
        await _answer(send, 413 if isinstance(error, ValueError) else 400, "refused")
        return
    outcomes.append("whole")
    assert await receive() == {"type": "http.request", "body": b"", "more_body": False}  # as after ASGI's last one
    await _answer(send, 200, f"direct {received[0]} {digest.hexdigest()}")


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=partial(LimitedHttpProtocol, limits=LIMITS), log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield ("127.0.0.1", port)
    server.should_exit = True
    thread.join(10)


def _put(path: str, body: bytes, extra: str = "", length: int | None = None) -> bytes:
    head = f"PUT {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {len(body) if length is None else length}\r\n"
    return (head + extra + "\r\n").encode() + body


def _responses(sock: socket.socket, count: int, timeout: float = 10) -> list[bytes]:
    """`count` responses (each with a Content-Length), in order."""
    sock.settimeout(timeout)
    data, answers = b"", []
    while len(answers) < count:
        head, separator, rest = data.partition(b"\r\n\r\n")
        if separator:
            length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))[15:])
            if len(rest) >= length:
                answers.append(head + b"\r\n\r\n" + rest[:length])
                data = rest[length:]
                continue
        more = sock.recv(65536)
        if not more:
            raise AssertionError(f"connection closed after {len(answers)} responses: {data!r}")
        data += more
    return answers


def _closed(sock: socket.socket, timeout: float = 10) -> bool:
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


def test_a_body_arrives_whole_and_the_connection_serves_the_next_requests(address):
    body = os.urandom(5 * 1024 * 1024 + 17)
    expected = f"direct {len(body)} {hashlib.sha256(body).hexdigest()}".encode()
    with socket.create_connection(address) as sock:
        sock.sendall(_put("/", body))
        (first,) = _responses(sock, 1)
        assert first.startswith(b"HTTP/1.1 200") and first.endswith(expected)
        # Two more on the same connection, the second pipelined behind the first body.
        sock.sendall(_put("/", body) + _put("/", b"tail"))
        second, third = _responses(sock, 2)
        assert second.endswith(expected)
        assert third.endswith(f"direct 4 {hashlib.sha256(b'tail').hexdigest()}".encode())
        # Small bodies parsed whole before their app runs, the second request's head already parsed too.
        sock.sendall(_put("/", b"one") + _put("/", b"two"))
        for answer, text in zip(_responses(sock, 2), (b"one", b"two"), strict=True):
            assert answer.endswith(f"direct 3 {hashlib.sha256(text).hexdigest()}".encode())


def test_expect_100_continue_is_answered_before_the_body_is_sent(address):
    body = os.urandom(300_000)
    with socket.create_connection(address) as sock:
        sock.sendall(_put("/", b"", "Expect: 100-continue\r\n", length=len(body)))
        sock.settimeout(10)
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        (answer,) = _responses(sock, 1)
        assert answer.endswith(f"direct {len(body)} {hashlib.sha256(body).hexdigest()}".encode())


def test_a_chunked_body_takes_the_plain_asgi_path(address):
    with socket.create_connection(address) as sock:
        sock.sendall(b"PUT / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        (answer,) = _responses(sock, 1)
        assert answer.endswith(f"plain 5 {hashlib.sha256(b'hello').hexdigest()}".encode())


def test_a_client_gone_midway_ends_the_receive_and_the_server_serves_on(address):
    outcomes.clear()
    with socket.create_connection(address) as sock:
        sock.sendall(_put("/", os.urandom(2 * 1024 * 1024), length=4 * 1024 * 1024))
    deadline = time.monotonic() + 10
    while not outcomes and time.monotonic() < deadline:
        time.sleep(0.05)
    assert outcomes == ["ConnectionResetError"]
    with socket.create_connection(address) as sock:
        sock.sendall(_put("/", b"again"))
        assert _responses(sock, 1)[0].startswith(b"HTTP/1.1 200")


def test_a_stalled_body_is_cut_off_after_the_idle_deadline(address):
    outcomes.clear()
    with socket.create_connection(address) as sock:
        sock.sendall(_put("/", os.urandom(100_000), length=1_000_000))
        started = time.monotonic()
        assert _closed(sock)
        assert IDLE - 0.1 <= time.monotonic() - started < IDLE + 5  # the loop's clock is read once per turn
    assert outcomes == ["ConnectionAbortedError"]


def test_a_sink_that_refuses_midway_gets_its_answer_out_and_the_connection_closes(address):
    outcomes.clear()
    body = os.urandom(2 * REFUSE_AFTER)
    with socket.create_connection(address) as sock:
        sock.sendall(_put("/refusing", body))
        (answer,) = _responses(sock, 1)
        assert answer.startswith(b"HTTP/1.1 413") and b"connection: close" in answer.lower()
        assert _closed(sock)  # the rest of the body is unread: no next request can be found after it
    assert outcomes == ["ValueError"]
