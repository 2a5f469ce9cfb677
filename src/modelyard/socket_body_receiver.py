"""Receiving a request body from a connection's socket straight into the application's sink, in large reads, off the
event loop: the upload twin of `socket_file_sender.py`.

uvicorn hands a body over as its event loop reads it: one `data_received` per socket read (at most 256 KiB with
uvloop, often far less), parsed by httptools, copied into the request's buffer, copied again into an `http.request`
message, passed to the application through an event, and from there to a worker thread that writes it: thousands of
rounds of Python per GiB on the loop, with the loop's thread and the writer's taking the GIL from each other
(docs/performance.md, "Uploads"). Here the loop only waits until the socket is readable, then a worker thread reads
what is queued into a reused 1 MiB buffer and hands each read to the sink, which writes and hashes it (both release
the GIL), until the socket holds no more for now. That halved the server's CPU per GiB received.

The socket belongs to the transport, whose reading is paused meanwhile; like the file sender, the receiver watches
a duplicate of its descriptor (event loops refuse a second watcher of a transport's descriptor).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable

READ_SIZE = 1024 * 1024  # bytes per read: one read, one write and one hash update each, whatever the client sends

Write = Callable[[memoryview], None]

_buffers = threading.local()  # one read buffer per worker thread: memory grows with the threads, not the clients


def _thread_buffer() -> memoryview:
    buffer: memoryview | None = getattr(_buffers, "buffer", None)
    if buffer is None:
        buffer = _buffers.buffer = memoryview(bytearray(READ_SIZE))
    return buffer


class SocketBodyReceiver:
    """Receives a body's bytes from one socket; `abort` ends a receive under way with ConnectionAbortedError."""

    def __init__(self, loop: asyncio.AbstractEventLoop, socket_fd: int) -> None:
        self._loop = loop
        self._socket = socket.socket(fileno=os.dup(socket_fd))
        self._socket.setblocking(False)  # it is already (the transport's socket is): said for Python's sake
        self._aborted = False
        self._readiness: asyncio.Future[None] | None = None  # while waiting for the socket
        self.progress_at = loop.time()  # when a byte was last received

    async def receive(self, write: Write, buffered: bytes, count: int, idle_timeout: float) -> None:
        """Hand `buffered` (what the server had read already), then the next `count` bytes of the socket to `write`,
        in order, in worker threads (`write` must not keep its buffer: it is reused). Raises ConnectionError when
        the client closes the connection before, or sends nothing for `idle_timeout` seconds; what `write` raises
        as it is."""
        self.progress_at = self._loop.time()
        left = count
        taking: asyncio.Future[int] | None = None
        try:
            while True:
                taking = self._loop.run_in_executor(None, self._take_queued, write, buffered, left)
                buffered = b""
                taken = await asyncio.shield(taking)  # cancelled, the thread would read on into a closed socket
                if self._aborted:
                    raise ConnectionAbortedError("the connection was closed")
                now = self._loop.time()
                if taken:
                    left -= taken
                    self.progress_at = now
                elif now - self.progress_at >= idle_timeout:
                    raise ConnectionAbortedError(f"no request body byte for {idle_timeout:g} seconds")
                if not left:
                    return
                await self._readable(self.progress_at + idle_timeout - now)
        finally:
            if taking is not None and not taking.done():  # cancelled: the thread stops at its next read
                self._aborted = True
                await asyncio.wait([taking])
                if not taking.cancelled():
                    taking.exception()  # superseded by the cancellation
            self._socket.close()

    def abort(self) -> None:
        """Make the receive under way stop (the connection is gone): at once if it waits, after the read in flight
        otherwise. Its socket is closed by `receive` then, never under a worker thread's read."""
        self._aborted = True
        if self._readiness is not None and not self._readiness.done():
            self._readiness.set_result(None)

    def _take_queued(self, write: Write, buffered: bytes, left: int) -> int:
        """In a worker thread: `buffered`, then what the socket holds, up to `left` bytes, into `write`; how many
        bytes of the socket's."""
        if buffered:
            write(memoryview(buffered))
        buffer = _thread_buffer()
        taken = 0
        while taken < left and not self._aborted:
            try:
                got = self._socket.recv_into(buffer, min(READ_SIZE, left - taken))
            except (BlockingIOError, InterruptedError):
                break
            if not got:
                raise ConnectionResetError("the client closed the connection before the end of the request body")
            write(buffer[:got])
            taken += got
        return taken

    async def _readable(self, timeout: float) -> None:
        """Until the socket has bytes (or the client's end, or an error), or `timeout` seconds have passed."""
        if self._aborted:
            return
        readiness = self._readiness = self._loop.create_future()

        def wake() -> None:
            if not readiness.done():
                readiness.set_result(None)

        fd = self._socket.fileno()
        self._loop.add_reader(fd, wake)
        timer = self._loop.call_later(max(timeout, 0), wake)
        try:
            await readiness
        finally:
            timer.cancel()
            self._loop.remove_reader(fd)
            self._readiness = None
