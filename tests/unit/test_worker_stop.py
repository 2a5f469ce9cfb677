"""A worker told to stop (SIGTERM) stops, even when the signal lands inside a database call that turns it into the
library's own error; and the job it was running goes back to the queue instead of being recorded as failed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.background import worker
from modelyard.config import Settings
from modelyard.services import jobs
from modelyard.services.hub import Hub


@pytest.fixture
def stopping() -> Iterator[None]:
    worker.STOPPING.set()
    yield
    worker.STOPPING.clear()


def test_an_error_raised_while_stopping_stops_the_loop(tmp_path: Path, stopping: None) -> None:
    hub = Hub.open(Settings(data_dir=tmp_path / "hub"))
    running = worker.Worker(hub)

    def interrupted_query(job: jobs.Job) -> None:
        raise RuntimeError("can't change 'autocommit' now: connection in transaction status ACTIVE")

    running.handlers = {"test-kind": interrupted_query}
    jobs.enqueue(hub, "test-kind", "subject", None)
    with pytest.raises(SystemExit):
        running.run(lambda: True)  # without the stop flag this logs the error and polls forever
    worker.STOPPING.clear()
    assert jobs.claim(hub, "another-worker", ("test-kind",)) is not None  # released, not failed
