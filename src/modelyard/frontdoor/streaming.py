"""Moving large bodies between the network and storage without blocking the event loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar

import anyio
from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.responses import FileResponse, StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from modelyard.domain.errors import TooLarge
from modelyard.domain.numbers import parse_natural
from modelyard.domain.ranges import parse_range

T = TypeVar("T")

# Disk writes happen in worker threads; batching the network's small chunks keeps thread hops rare.
WRITE_BATCH = 4 * 1024 * 1024
# The server's extension that hands the body to a function of ours without ASGI messages (http_protocol.py).
RECEIVE_INTO = "modelyard.receive_into"


class Sink(Protocol):
    @property
    def max_size(self) -> int: ...  # bytes it takes at most

    def write(self, data: bytes | memoryview) -> None: ...  # must not keep `data`: the server may reuse it

    def discard(self) -> None: ...


async def receive_into(request: Request, sink: Sink) -> None:
    """Stream the request body into `sink`; on any failure the sink is discarded. A body announced longer than the
    sink takes is refused (413) before any of it is read.

    Under `modelyard serve` the server itself reads the body from the socket into the sink, in large reads, in
    worker threads (RECEIVE_INTO). Elsewhere the body is handed over in batches of about WRITE_BATCH bytes, each
    written (and hashed) in a worker thread while the next batch is received: the network and the disk work at
    once, with at most two batches in memory. A batch is the chunks as the server received them, never joined: a
    copy of every byte costs more than a call per chunk (docs/performance.md, "Uploads").
    """
    try:
        refuse_longer_than(request, sink.max_size, "A request body")
    except TooLarge:
        await run_in_threadpool(sink.discard)
        raise
    direct = request.scope.get("extensions", {}).get(RECEIVE_INTO)
    if direct is not None:
        await _received_by_server(direct["receive_into"], sink)
        return
    pieces: list[bytes] = []
    pending = 0
    writing: asyncio.Future[None] | None = None
    try:
        async for chunk in request.stream():
            pieces.append(chunk)
            pending += len(chunk)
            if pending >= WRITE_BATCH:
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(run_in_threadpool(_write_all, sink, pieces))
                pieces, pending = [], 0
        if writing is not None:
            await writing
        if pieces:
            await run_in_threadpool(_write_all, sink, pieces)
    except BaseException:
        if writing is not None:
            await _settled(writing)
        await run_in_threadpool(sink.discard)
        raise


async def _received_by_server(receive: Callable[[Callable[[memoryview], None]], Awaitable[None]], sink: Sink) -> None:
    try:
        await receive(sink.write)
    except BaseException as error:
        await run_in_threadpool(sink.discard)  # the server waited for its last write to end
        if isinstance(error, ConnectionError):
            raise ClientDisconnect() from error  # what the plain path raises: the client went, or was cut off
        raise


def _write_all(sink: Sink, pieces: list[bytes]) -> None:
    for piece in pieces:
        sink.write(piece)


async def _settled(writing: asyncio.Future[None]) -> None:
    """Wait for a write in flight to end, whatever its outcome: its thread cannot be stopped, and the sink must not
    be discarded under it. Its error, if any, is superseded by the one being handled."""
    await asyncio.wait([writing])
    if not writing.cancelled():
        writing.exception()


def refuse_longer_than(request: Request, limit: int, what: str) -> None:
    """413 before the body is read when the client announces more than `limit` bytes of it."""
    declared_length = parse_natural(request.headers.get("content-length", ""))
    if declared_length is not None and declared_length > limit:
        raise TooLarge(f"{what} of {declared_length} bytes exceeds the limit of {limit} bytes")


async def read_limited(request: Request, limit: int, too_large: str) -> bytes:
    """The whole request body, for bodies that must be held in memory: over `limit` bytes it is refused with
    413 and the message `too_large`, before it is read when the client announces its size."""
    declared = parse_natural(request.headers.get("content-length", ""))
    if declared is not None and declared > limit:
        raise TooLarge(too_large)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(too_large)
        chunks.append(chunk)
    return b"".join(chunks)


_EMPTY_BODY: Message = {"type": "http.response.body", "body": b"", "more_body": True}


def paced(send: Send) -> Send:
    """`send`, returning from a body piece only once the connection has taken it.

    uvicorn awaits its flow control *before* it writes a message, so a plain response hands it piece N, gets
    control back at once, and produces piece N+1 while N waits for a slow reader: two pieces per connection.
    Following each piece with an empty one waits for the write buffer to drain first (an empty piece writes
    nothing), so a slow download holds one piece; a fast one barely waits, the kernel's socket buffer still full.
    """

    async def send_paced(message: Message) -> None:
        await send(message)
        if message["type"] == "http.response.body" and message.get("more_body", False):
            await send(_EMPTY_BODY)

    return send_paced


async def iterate_in_threads(iterator: Iterator[T]) -> AsyncIterator[T]:
    """Each item of a blocking iterator, produced in a worker thread.

    Unlike Starlette's `iterate_in_threadpool`, the thread does not return the item: anyio's worker keeps its last
    job, result included, until it gets another one, so every idle worker thread would keep a piece alive.
    """
    handed: list[T] = []

    def advance() -> bool:
        for item in iterator:
            handed.append(item)
            return True
        return False

    while await run_in_threadpool(advance):
        yield handed.pop()


class PacedStreamingResponse(StreamingResponse):
    """StreamingResponse that produces the next piece only when the client has taken the previous one; a blocking
    iterator runs in worker threads that keep nothing once a piece is handed over."""

    def __init__(self, content: Iterable[Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(iterate_in_threads(iter(content)), *args, **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, paced(send))


ZEROCOPYSEND = "http.response.zerocopysend"


def open_file(path: Path) -> BinaryIO | None:
    """`path` opened for a `BlobFileResponse`, or None when it is not there (removed since it was found)."""
    try:
        return open(path, "rb")  # the response closes it once it is sent
    except FileNotFoundError:
        return None


class BlobFileResponse(FileResponse):
    """FileResponse (Range, HEAD) sent zero-copy where the server offers it (`zerocopysend`: the whole file or a
    single range). Elsewhere it streams larger reads than Starlette's, paced like `PacedStreamingResponse`: a slow
    download holds one read.

    It sends a file opened beforehand (`open_file`), never its path: a blob or plain copy evicted once it is open
    is still sent whole, and one evicted between being found and being opened is the caller's to answer otherwise
    (`file_responses.object_response`), where a path opened later would turn into a 500. Starlette's `pathsend`
    would open the path again, so the whole file goes as a `zerocopysend` of the open file instead."""

    chunk_size = 512 * 1024

    def __init__(self, file: BinaryIO, **kwargs: Any) -> None:
        super().__init__(file.name, stat_result=os.fstat(file.fileno()), **kwargs)
        self.file = file

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._zero_copy = ZEROCOPYSEND in scope.get("extensions", {})
        try:
            await super().__call__(scope, receive, paced(send))
        finally:
            self.file.close()

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[anyio.AsyncFile[bytes]]:
        yield anyio.wrap_file(self.file)  # closed by __call__

    async def _handle_simple(self, send: Send, send_header_only: bool, send_pathsend: bool) -> None:
        if send_header_only or not self._zero_copy:
            await super()._handle_simple(send, send_header_only, send_pathsend=False)
            return
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": ZEROCOPYSEND, "file": self.file, "offset": 0, "count": self._size()})

    async def _handle_single_range(
        self, send: Send, start: int, end: int, file_size: int, send_header_only: bool
    ) -> None:
        if send_header_only or not self._zero_copy:
            await super()._handle_single_range(send, start, end, file_size, send_header_only)
            return
        headers = MutableHeaders(raw=list(self.raw_headers))
        headers["content-range"] = f"bytes {start}-{end - 1}/{file_size}"
        headers["content-length"] = str(end - start)
        await send({"type": "http.response.start", "status": 206, "headers": headers.raw})
        await send({"type": ZEROCOPYSEND, "file": self.file, "offset": start, "count": end - start})

    def _size(self) -> int:
        assert self.stat_result is not None
        return self.stat_result.st_size

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        # Range goes through the one parser every other download uses (Starlette's own would answer multiple
        # ranges and refuse what that parser ignores): a file answers the same whether stored in git, as an
        # LFS blob or as Xet. An unsatisfiable range raises the domain error, which frontdoor/errors renders.
        selected = parse_range(http_range, file_size)
        return [] if selected is None else [selected]
