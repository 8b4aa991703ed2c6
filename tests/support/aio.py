"""What the asyncio tests share: a ticker that measures how late the event loop wakes, and the
deadline-bound wait of `support.bounds`, awaited (a blocking poll would stall the loop under
test). Needs no server."""

from __future__ import annotations

import asyncio
import time
from typing import Callable, Optional

import pytest

# How late a 10 ms ticker may wake while the loop is shared with database calls. The loop only
# hands calls to threads and takes their results back; anything near a statement's length
# (seconds in the tests) would mean it waited on the network. Generous for a loaded 2-core machine.
LOOP_LAG_BOUND = 0.25


class Ticker:
    """A task that sleeps 10 ms at a time and records how late each wake-up was."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.ticks = 0
        self._task: Optional[asyncio.Task[None]] = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.perf_counter() - start - 0.01)
            self.ticks += 1

    def start(self) -> Ticker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task


async def until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Awaits until `predicate()` is true; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)
