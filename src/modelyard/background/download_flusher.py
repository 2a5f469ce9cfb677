"""The serving process's flush of its download counts: every `download_flush_seconds`, and once when it stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from starlette.concurrency import run_in_threadpool

from modelyard.services import download_counts
from modelyard.services.hub import Hub

log = logging.getLogger(__name__)


@asynccontextmanager
async def flushing_download_counts(hub: Hub) -> AsyncIterator[None]:
    task = asyncio.create_task(_flush_periodically(hub))
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await run_in_threadpool(_flush, hub)


async def _flush_periodically(hub: Hub) -> None:
    while True:
        await asyncio.sleep(hub.settings.download_flush_seconds)
        await run_in_threadpool(_flush, hub)


def _flush(hub: Hub) -> None:
    # A database that is down must not stop the serving process: the counts wait in memory for the next try.
    try:
        download_counts.flush(hub)
    except Exception:
        log.exception("Could not write download counts; %d wait for the next flush", download_counts.pending(hub))
