"""Sending a part of a file to a connection's socket with `os.sendfile`: the kernel moves the bytes from the page cache
to the socket, none of them pass through Python, and nothing is buffered in the process.

The socket belongs to an asyncio transport, and event loops refuse a second watcher of a transport's descriptor, so
the sender watches a duplicate of it: the same socket (non-blocking, like the transport's), another number. It
sends whenever the loop reports the socket writable, as much as the socket takes, so a slow reader is sent to as it
reads and a stalled one costs nothing but the kernel's socket buffer.
"""

from __future__ import annotations

import asyncio
import os

# Per call, so that a file not in the page cache, read from disk inside `sendfile`, holds the loop briefly
# (nginx's `sendfile_max_chunk` default).
MAX_BYTES_PER_CALL = 2 * 1024 * 1024


class FileShorterThanExpected(RuntimeError):
    pass


class SocketFileSender:
    """Sends a file range to one socket; `close` ends a send under way with ConnectionAbortedError."""

    def __init__(self, loop: asyncio.AbstractEventLoop, socket_fd: int) -> None:
        self._loop = loop
        self._socket_fd = os.dup(socket_fd)
        self._file_fd = -1
        self._offset = 0
        self._left = 0
        self._done: asyncio.Future[None] | None = None
        self.progress_at = loop.time()  # when the socket last took a byte

    async def send(self, file_fd: int, offset: int, count: int) -> None:
        """Send `count` bytes of the file from `offset`; raise OSError as sendfile does (ConnectionError when the
        client has gone), FileShorterThanExpected if the file ends first."""
        self._file_fd, self._offset, self._left = file_fd, offset, count
        self.progress_at = self._loop.time()
        self._done = self._loop.create_future()
        self._loop.add_writer(self._socket_fd, self._send_some)
        try:
            await self._done
        finally:
            self._stop_watching()

    def close(self) -> None:
        self._finish(ConnectionAbortedError("The connection was closed"))
        if self._socket_fd >= 0:
            os.close(self._socket_fd)
            self._socket_fd = -1

    def _send_some(self) -> None:
        try:
            sent = os.sendfile(self._socket_fd, self._file_fd, self._offset, min(self._left, MAX_BYTES_PER_CALL))
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            self._finish(error)
            return
        if not sent:
            self._finish(FileShorterThanExpected(f"The file ended {self._left} bytes early"))
            return
        self.progress_at = self._loop.time()
        self._offset += sent
        self._left -= sent
        if not self._left:
            self._finish(None)

    def _finish(self, error: BaseException | None) -> None:
        self._stop_watching()
        if self._done is None or self._done.done():
            return
        if error is None:
            self._done.set_result(None)
        else:
            self._done.set_exception(error)

    def _stop_watching(self) -> None:
        if self._socket_fd >= 0:
            self._loop.remove_writer(self._socket_fd)
