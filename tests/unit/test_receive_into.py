"""`receive_into` hands a request body to a sink in order, writing one batch while the next is received, and
discards the sink on any failure, only once the write in flight has ended; a body announced longer than the sink
takes is refused unread. This is its path on servers without our `modelyard.receive_into` extension; the
extension's is tested in test_socket_body_receiver.py."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator

import pytest

from modelyard.domain.errors import TooLarge
from modelyard.frontdoor import streaming


class FakeRequest:
    def __init__(self, chunks: list[bytes], fail_after: int | None = None, announced: int | None = None) -> None:
        self.scope: dict[str, object] = {}  # a server without the RECEIVE_INTO extension
        self.headers = {} if announced is None else {"content-length": str(announced)}
        self._chunks = chunks
        self._fail_after = fail_after
        self.streamed = False

    async def stream(self) -> AsyncIterator[bytes]:
        self.streamed = True
        for index, chunk in enumerate(self._chunks):
            if index == self._fail_after:
                raise ConnectionResetError("client went away")
            await asyncio.sleep(0)
            yield chunk


class RecordingSink:
    def __init__(self, limit: int | None = None) -> None:
        self.received = bytearray()
        self.limit = limit
        self.max_size = 1 << 40
        self.writing = threading.Event()
        self.discarded_while_writing = False
        self.discarded = 0

    def write(self, data: bytes) -> None:
        self.writing.set()
        if self.limit is not None and len(self.received) + len(data) > self.limit:
            self.writing.clear()
            raise TooLarge("over the limit")
        self.received += data
        self.writing.clear()

    def discard(self) -> None:
        self.discarded_while_writing = self.writing.is_set()
        self.discarded += 1


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(streaming, "WRITE_BATCH", 10_000)


def _chunks(count: int, size: int = 3_000) -> list[bytes]:
    return [os.urandom(size) for _ in range(count)]


def test_the_body_arrives_whole_and_in_order():
    chunks = _chunks(50)
    sink = RecordingSink()
    asyncio.run(streaming.receive_into(FakeRequest(chunks), sink))  # type: ignore[arg-type]
    assert bytes(sink.received) == b"".join(chunks)
    assert sink.discarded == 0


def test_a_sink_error_discards_the_sink_and_is_raised():
    sink = RecordingSink(limit=40_000)
    with pytest.raises(TooLarge):
        asyncio.run(streaming.receive_into(FakeRequest(_chunks(50)), sink))  # type: ignore[arg-type]
    assert sink.discarded == 1


def test_a_broken_connection_discards_the_sink_after_the_write_in_flight():
    sink = RecordingSink()
    with pytest.raises(ConnectionResetError):
        asyncio.run(streaming.receive_into(FakeRequest(_chunks(50), fail_after=30), sink))  # type: ignore[arg-type]
    assert sink.discarded == 1
    assert not sink.discarded_while_writing


def test_a_body_announced_longer_than_the_sink_takes_is_refused_unread():
    sink = RecordingSink()
    sink.max_size = 1000
    request = FakeRequest(_chunks(1), announced=1001)
    with pytest.raises(TooLarge):
        asyncio.run(streaming.receive_into(request, sink))  # type: ignore[arg-type]
    assert not request.streamed
    assert sink.discarded == 1
