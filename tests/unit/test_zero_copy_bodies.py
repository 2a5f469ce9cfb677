"""The zero-copy ASGI extensions of our uvicorn protocol (http_protocol.py), spoken directly by a small ASGI app in
the ways Starlette's responses do not: without Content-Length (chunked), a file part followed by bytes, a file
object at its current position; and which messages `BlobFileResponse` sends when they are offered, or not.
Downloads through the hub itself are tested in tests/integration."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from modelyard.frontdoor.streaming import BlobFileResponse, open_file
from modelyard.http_protocol import PATHSEND, ZEROCOPYSEND, ConnectionLimits, LimitedHttpProtocol

DATA = os.urandom(3 * 1024 * 1024 + 17)
LIMITS = ConnectionLimits(
    header_timeout=5, body_idle_timeout=5, response_idle_timeout=5, max_header_bytes=65536, max_header_count=100
)


def _app(path: Path):
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        route = scope["path"]
        headers = [] if route == "/chunked" else [(b"content-length", str(len(DATA)).encode())]
        if route == "/extensions":
            body = ",".join(sorted(scope.get("extensions", {}))).encode()
            headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if route == "/extensions":
            await send({"type": "http.response.body", "body": body})
        elif route in ("/path", "/chunked"):
            await send({"type": PATHSEND, "path": str(path)})
        elif route == "/part-then-bytes":
            with path.open("rb") as file:
                head = len(DATA) - 5
                await send({"type": ZEROCOPYSEND, "file": file, "offset": 0, "count": head, "more_body": True})
                await send({"type": "http.response.body", "body": DATA[head:]})
        elif route == "/from-position":
            with path.open("rb") as file:
                await send({"type": "http.response.body", "body": file.read(1000), "more_body": True})
                await send({"type": ZEROCOPYSEND, "file": file})  # from the file's position to its end

    return app


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("zero-copy") / "data.bin"
    path.write_bytes(DATA)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        _app(path), host="127.0.0.1", port=port, http=partial(LimitedHttpProtocol, limits=LIMITS), log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_both_extensions_are_announced(server: str):
    assert httpx.get(f"{server}/extensions").text == f"{PATHSEND},{ZEROCOPYSEND}"


@pytest.mark.parametrize("route", ["/path", "/chunked", "/part-then-bytes", "/from-position"])
def test_file_bodies_arrive_whole(server: str, route: str):
    with httpx.Client() as client:  # one connection: each response ends where the next one begins
        for _ in range(2):
            response = client.get(f"{server}{route}")
            assert response.status_code == 200
            assert response.content == DATA
    if route == "/chunked":
        assert response.headers["transfer-encoding"] == "chunked"


def test_head_sends_no_file_bytes(server: str):
    with httpx.Client() as client:
        head = client.head(f"{server}/path")
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(DATA)
        assert client.get(f"{server}/path").content == DATA  # the connection was left clean


@pytest.mark.parametrize(
    ("extensions", "range_header", "body_types"),
    [
        ({PATHSEND: {}, ZEROCOPYSEND: {}}, None, [ZEROCOPYSEND]),  # the open file, not its path: see below
        ({PATHSEND: {}, ZEROCOPYSEND: {}}, "bytes=5-", [ZEROCOPYSEND]),
        ({PATHSEND: {}}, None, ["http.response.body"] * 7),  # pathsend alone would open the path again
        ({}, "bytes=5-", ["http.response.body"] * 7),  # none offered: 512 KiB reads
    ],
)
def test_blob_responses_use_the_extensions_offered(tmp_path: Path, extensions, range_header, body_types):
    path = tmp_path / "blob.bin"
    path.write_bytes(DATA)
    headers = [(b"range", range_header.encode())] if range_header else []
    scope = {"type": "http", "method": "GET", "headers": headers, "extensions": extensions}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # no disconnect
        return {}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(BlobFileResponse(open_file(path))(scope, receive, send))
    assert sent[0]["type"] == "http.response.start"
    assert [m["type"] for m in sent[1:] if m.get("body", True)] == body_types


@pytest.mark.parametrize("extensions", [{PATHSEND: {}, ZEROCOPYSEND: {}}, {PATHSEND: {}}, {}])
@pytest.mark.parametrize(("range_header", "start"), [(None, 0), ("bytes=5-", 5)])
def test_a_blob_removed_once_opened_is_still_sent_whole(tmp_path: Path, extensions, range_header, start):
    """An LFS blob or a plain copy of a Xet file may be evicted while a download starts: once the response has it
    open, it sends every byte (it used to stat and open the path later: a 500). Before that, `open_file` says it
    is gone, and the download looks elsewhere (frontdoor/file_responses.object_response)."""
    path = tmp_path / "blob.bin"
    path.write_bytes(DATA)
    response = BlobFileResponse(open_file(path), media_type="application/octet-stream")
    path.unlink()
    assert open_file(path) is None
    headers = [(b"range", range_header.encode())] if range_header else []
    scope = {
        "type": "http",
        "method": "GET",
        "headers": headers,
        "extensions": extensions,
        "asgi": {"spec_version": "2.4"},
    }
    body = bytearray()

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == ZEROCOPYSEND:  # what the server does with it: the kernel reads the open file
            body.extend(os.pread(message["file"].fileno(), message["count"], message["offset"]))
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    asyncio.run(response(scope, receive, send))
    assert bytes(body) == DATA[start:]
    assert response.file.closed
