"""HTTP/1.1 connections with deadlines and head limits, so that slow or stalled clients cannot hold the server.

uvicorn's httptools protocol arms a timer only between requests (keep-alive). A client that sends its headers one
byte at a time (slowloris), stops in the middle of a request body, or stops reading a response keeps its
connection, its file descriptor and its request's task forever, and a head is buffered without any size limit.
This subclass adds, per connection:

- a deadline for the request head, from the connection (or the first byte of a later request) to the end of the
  headers: 408 and closed when it passes;
- limits on the head's size and on its number of header fields: 431 and closed;
- an idle deadline on the request body: closed when the server has waited that long for a byte of it (time the
  application spends before reading more does not count);
- an idle deadline on the response: aborted when the client has accepted no byte of it for that long.

It also offers the application zero-copy file bodies, the ASGI extensions `http.response.pathsend` (a whole file by
path: Starlette's FileResponse uses it) and `http.response.zerocopysend` (a range of an open file): the kernel sends
the file from the page cache to the socket (`socket_file_sender.py`), under the same response deadline.

And their upload twin, `modelyard.receive_into` (for a body of announced length): the application hands the
server a function that takes the body's bytes, which the server reads from the socket in large pieces and passes
to it in worker threads, without ASGI messages (`socket_body_receiver.py`), under the same body deadline. Its
entry in the scope's extensions holds that entry point, `receive_into(write)`: ASGI's `receive` takes no
argument, and `send` is the response's.
"""

from __future__ import annotations

import asyncio
import logging
import os
from asyncio import TimerHandle
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from modelyard.socket_body_receiver import SocketBodyReceiver, Write
from modelyard.socket_file_sender import SocketFileSender

if TYPE_CHECKING:  # worker processes import this module before their first health check: keep it light
    from modelyard.config import Settings

log = logging.getLogger("modelyard")

PATHSEND = "http.response.pathsend"
ZEROCOPYSEND = "http.response.zerocopysend"
RECEIVE_INTO = "modelyard.receive_into"


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float
    body_idle_timeout: float
    response_idle_timeout: float
    max_header_bytes: int
    max_header_count: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            header_timeout=settings.header_timeout_seconds,
            body_idle_timeout=settings.body_idle_timeout_seconds,
            response_idle_timeout=settings.response_idle_timeout_seconds,
            max_header_bytes=settings.max_header_bytes,
            max_header_count=settings.max_header_count,
        )


class _ReadTrackingFlow(FlowControl):
    """uvicorn's flow control, noting when the application last asked for more of the request body."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(transport)
        self._loop = loop
        self.app_read_at = loop.time()

    def resume_reading(self) -> None:  # called by every `receive()` of the application
        self.app_read_at = self._loop.time()
        super().resume_reading()


class LimitedHttpProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._head_timer: TimerHandle | None = None
        self._body_timer: TimerHandle | None = None
        self._response_timer: TimerHandle | None = None
        self._reading_head = True
        self._head_bytes = 0  # received while the head was incomplete
        self._field_bytes = 0  # of the request line and header fields, counted as the parser hands them over
        self._body_byte_at = 0.0
        self._body_bytes = 0  # of the current request's body, fed to the parser
        self._unsent_bytes = 0
        self._refused = False
        self._socket_fd: int | None = None  # where file bodies can be sent with sendfile; None where they cannot
        self._file_sender: SocketFileSender | None = None  # while a file body is being sent
        self._body_receiver: SocketBodyReceiver | None = None  # while a body is being received into the application

    # --- connection --------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow = _ReadTrackingFlow(transport, self.loop)
        sock = transport.get_extra_info("socket")
        if sock is not None and self.scheme == "http":  # TLS encrypts in user space: nothing to send zero-copy
            self._socket_fd = sock.fileno()
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._file_sender is not None:
            self._file_sender.close()  # its duplicate descriptor would keep the connection open
        if self._body_receiver is not None:
            self._body_receiver.abort()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._reading_head and not self._refused and not self.transport.is_closing():
            # Everything fed while the head is incomplete belongs to it (the parser buffers partial fields).
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(431, f"The request head is larger than {self.limits.max_header_bytes} bytes")

    # --- the request head --------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._refused:
            return  # the parser goes on through the rest of the data it was fed
        super().on_message_begin()
        if self._socket_fd is not None:
            self.scope["extensions"] = {**self.scope.get("extensions", {}), PATHSEND: {}, ZEROCOPYSEND: {}}
        self._reading_head = True
        self._head_bytes = self._field_bytes = 0
        self._arm_head_deadline()

    def on_url(self, url: bytes) -> None:
        if not self._refused and self._count_field_bytes(len(url)):
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused or not self._count_field_bytes(len(name) + len(value) + 4):
            return
        if len(self.headers) >= self.limits.max_header_count:
            self._refuse(431, f"The request has more than {self.limits.max_header_count} header fields")
            return
        super().on_header(name, value)

    def _count_field_bytes(self, count: int) -> bool:
        self._field_bytes += count
        if self._field_bytes > self.limits.max_header_bytes:
            self._refuse(431, f"The request head is larger than {self.limits.max_header_bytes} bytes")
            return False
        return True

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._reading_head = False
        self._cancel(self._head_timer)
        self._head_timer = None
        previous_cycle = self.cycle
        super().on_headers_complete()
        if self.cycle is not previous_cycle and self._socket_fd is not None:
            self._offer_file_bodies(self.cycle)
            self._offer_body_receiver(self.cycle)
        self._body_byte_at = self.loop.time()
        self._body_bytes = 0
        self._body_timer = self.loop.call_later(self.limits.body_idle_timeout, self._check_body)

    def _arm_head_deadline(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._reading_head:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm_head_deadline()  # a pipelined request waits for the response before it: not the client's fault
            return
        self._refuse(408, f"The request head was not received within {self.limits.header_timeout:g} seconds")

    # --- the request body --------------------------------------------------------------------------------

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        self._body_byte_at = self.loop.time()
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._cancel(self._body_timer)
        self._body_timer = None
        super().on_message_complete()

    def _check_body(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None or not cycle.more_body or cycle.response_complete:
            return
        timeout = self.limits.body_idle_timeout
        assert isinstance(self.flow, _ReadTrackingFlow)
        # The server, not the client, is the slow one while the application has not asked for more.
        server_busy = self.flow.read_paused or bool(cycle.body) or cycle.waiting_for_100_continue
        idle = self.loop.time() - max(self._body_byte_at, self.flow.app_read_at)
        if server_busy or idle < timeout:
            self._body_timer = self.loop.call_later(timeout if server_busy else timeout - idle, self._check_body)
            return
        log.info("Closing the connection of %s: no request body byte for %g seconds", self._peer(), timeout)
        self.transport.close()  # the application's receive() then answers http.disconnect

    def _offer_body_receiver(self, cycle: RequestResponseCycle) -> None:
        length = self._announced_body_length()
        if length is not None:
            cycle.scope["extensions"][RECEIVE_INTO] = {"receive_into": partial(self._receive_body_into, cycle, length)}

    def _announced_body_length(self) -> int | None:
        """The body's Content-Length, None for a chunked body (the parser has refused a request with both)."""
        length = None
        for name, value in self.headers:
            if name == b"transfer-encoding":
                return None
            if name == b"content-length":
                length = int(value)  # the parser checked it: digits
        return length

    async def _receive_body_into(self, cycle: RequestResponseCycle, length: int, write: Write) -> None:
        """RECEIVE_INTO: the rest of the request body, handed to `write` in worker threads, in order, in buffers
        that are reused once it returns. Raises ConnectionError if the client goes, or is cut off as idle, first."""
        if cycle.response_started:
            raise RuntimeError("A request body can only be received before its response starts")
        if cycle.disconnected:
            raise ConnectionAbortedError("the connection was closed")
        if cycle.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        # With the whole body parsed already (the parser may be on a pipelined request behind it), nothing is read.
        left = length - self._body_bytes if cycle.more_body else 0
        if left:
            self.flow.pause_reading()  # the rest of the body is read from the socket by the receiver
            self._cancel(self._body_timer)  # the receiver keeps the body's idle deadline
            self._body_timer = None
        buffered, cycle.body = bytes(cycle.body), bytearray()
        receiver = self._body_receiver = SocketBodyReceiver(self.loop, self._socket_fd)  # type: ignore[arg-type]
        try:
            await receiver.receive(write, buffered, left, self.limits.body_idle_timeout)
        except BaseException as error:
            if left:
                if isinstance(error, ConnectionError) and not self.transport.is_closing():
                    log.info("Closing the connection of %s: %s", self._peer(), error)
                    self.transport.close()  # its reading is paused: it would not notice the client's end itself
                cycle.keep_alive = False  # what is left of the body is in the socket: no next request can be found
            raise
        finally:
            self._body_receiver = None
        if left:
            self.parser = self._new_parser()  # the old one still waits for the bytes the receiver took
            self.flow.resume_reading()
        cycle.more_body = False
        cycle.message_event.set()  # a `receive()` now answers the end of the body, as after the parser's

    def _new_parser(self) -> httptools.HttpRequestParser:
        parser = httptools.HttpRequestParser(self)
        parser.set_dangerous_leniencies(lenient_data_after_close=True)  # as uvicorn sets its own
        return parser

    # --- the response ------------------------------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        self._watch_response()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel(self._response_timer)
        self._response_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.get_write_buffer_size():
            self._watch_response()  # closing waits for the last bytes: they too must move

    def _offer_file_bodies(self, cycle: RequestResponseCycle) -> None:
        """Let `cycle.send` take the zero-copy messages; uvicorn's own `send` knows only `http.response.body`."""
        send_message = cycle.send

        async def send(message: Any) -> None:
            if message["type"] in (PATHSEND, ZEROCOPYSEND):
                await self._send_file_body(cycle, message)
                message = {"type": "http.response.body", "body": b"", "more_body": message.get("more_body", False)}
            await send_message(message)  # for a file body: what uvicorn does at the end of a body, or after one part

        cycle.send = send  # type: ignore[method-assign]

    async def _send_file_body(self, cycle: RequestResponseCycle, message: Any) -> None:
        if cycle.disconnected or cycle.scope["method"] == "HEAD":
            return
        if not cycle.response_started or cycle.response_complete:
            raise RuntimeError(f"Unexpected ASGI message '{message['type']}' outside of a response body")
        if message["type"] == PATHSEND:
            # Opening a local file waits for neither the network nor the file's bytes: done on the loop.
            with open(message["path"], "rb") as file:
                await self._send_file_range(cycle, file.fileno(), 0, os.fstat(file.fileno()).st_size)
            return
        file = message["file"]
        file_fd = file.fileno()
        offset = message.get("offset")
        if offset is None:
            offset = file.tell()  # the object's position: a buffered file has read ahead of it
        count = message.get("count")
        if count is None:
            count = os.fstat(file_fd).st_size - offset
        await self._send_file_range(cycle, file_fd, offset, count)

    async def _send_file_range(self, cycle: RequestResponseCycle, file_fd: int, offset: int, count: int) -> None:
        if not count:
            return
        if cycle.chunked_encoding:
            self.transport.write(b"%x\r\n" % count)
        elif count > cycle.expected_content_length:
            raise RuntimeError("Response content longer than Content-Length")
        await self._drain_write_buffer()
        if cycle.disconnected:
            return
        assert self._socket_fd is not None
        sender = self._file_sender = SocketFileSender(self.loop, self._socket_fd)
        self._cancel(self._response_timer)
        self._response_timer = self.loop.call_later(self.limits.response_idle_timeout, self._check_response)
        try:
            await sender.send(file_fd, offset, count)
        except ConnectionError:
            # The client is gone, or was cut off. Marked now, as connection_lost will: uvicorn's send then ignores
            # the rest of the response instead of calling it short.
            self.transport.abort()
            cycle.disconnected = True
            return
        except BaseException:
            self.transport.abort()  # part of the body is sent, and cannot be taken back
            raise
        finally:
            sender.close()
            self._file_sender = None
            self._cancel(self._response_timer)
            self._response_timer = None
        if cycle.chunked_encoding:
            self.transport.write(b"\r\n")
        else:
            cycle.expected_content_length -= count

    async def _drain_write_buffer(self) -> None:
        """Wait until the transport has handed everything written so far (the head) to the socket: file bytes sent
        to the socket directly must come after it."""
        if not self.transport.get_write_buffer_size():
            return
        low, high = self.transport.get_write_buffer_limits()
        self.transport.set_write_buffer_limits(high=0)  # pause_writing now, resume_writing once empty
        try:
            await self.flow.drain()
        finally:
            if not self.transport.is_closing():
                self.transport.set_write_buffer_limits(high=high, low=low)

    def _watch_response(self) -> None:
        if self._response_timer is None:
            self._unsent_bytes = self.transport.get_write_buffer_size()
            self._response_timer = self.loop.call_later(self.limits.response_idle_timeout, self._check_response)

    def _check_response(self) -> None:
        self._response_timer = None
        timeout = self.limits.response_idle_timeout
        if self._file_sender is not None:
            idle = self.loop.time() - self._file_sender.progress_at
            if idle < timeout:
                self._response_timer = self.loop.call_later(timeout - idle, self._check_response)
                return
        else:
            unsent = self.transport.get_write_buffer_size()
            if not unsent:
                return  # everything was handed to the client
            if unsent < self._unsent_bytes:
                self._watch_response()  # the client is reading, slowly
                return
        log.info("Aborting the connection of %s: it accepted no response byte for %g seconds", self._peer(), timeout)
        self.transport.abort()  # close() would wait for the unsent bytes forever

    # --- helpers -----------------------------------------------------------------------------------------

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` with `message` (unless a response is under way) and close the connection."""
        self._refused = True
        self._cancel_timers()
        log.info("Refusing a request from %s: %s", self._peer(), message)
        if self.cycle is None or self.cycle.response_complete:
            body = message.encode()
            head = b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: %d\r\n\r\n"
            self.transport.write(STATUS_LINE[status] + head % len(body) + body)
        self.transport.close()

    @staticmethod
    def _cancel(timer: TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer, self._response_timer):
            self._cancel(timer)
        self._head_timer = self._body_timer = self._response_timer = None

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
