"""Moving large bodies between the network and storage without blocking the event loop."""

from __future__ import annotations

from typing import Protocol

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse

from modelyard.domain.errors import TooLarge
from modelyard.domain.ranges import parse_range

# Disk writes happen in worker threads; batching the network's small chunks keeps thread hops rare.
WRITE_BATCH = 4 * 1024 * 1024


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...

    def discard(self) -> None: ...


async def receive_into(request: Request, sink: Sink) -> None:
    """Stream the request body into `sink`; on any failure the sink is discarded."""
    buffer = bytearray()
    try:
        async for chunk in request.stream():
            buffer += chunk
            if len(buffer) >= WRITE_BATCH:
                data = bytes(buffer)
                buffer.clear()
                await run_in_threadpool(sink.write, data)
        if buffer:
            await run_in_threadpool(sink.write, bytes(buffer))
    except BaseException:
        await run_in_threadpool(sink.discard)
        raise


async def read_limited(request: Request, limit: int, too_large: str) -> bytes:
    """The whole request body, for bodies that must be held in memory: over `limit` bytes it is refused with
    413 and the message `too_large`, before it is read when the client announces its size."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(too_large)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(too_large)
        chunks.append(chunk)
    return b"".join(chunks)


class BlobFileResponse(FileResponse):
    """FileResponse (Range, HEAD, zero-copy `pathsend` where the server offers it) with larger reads."""

    chunk_size = 1024 * 1024

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        # Range goes through the one parser every other download uses (Starlette's own would answer multiple
        # ranges and refuse what that parser ignores): a file answers the same whether stored in git, as an
        # LFS blob or as Xet. An unsatisfiable range raises the domain error, which api/errors renders.
        selected = parse_range(http_range, file_size)
        return [] if selected is None else [selected]
