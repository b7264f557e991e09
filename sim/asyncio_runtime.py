"""The engine's Runtime port under asyncio: real waits, optionally sped up.

`speedup` divides every wait, so a simulated hour can pass in well under a second of wall time
while the engine's coroutines interleave as they would live. `now` reports the scenario's clock:
``start_s + elapsed_wall * speedup``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class AsyncioQueue:
    """A FIFO work queue on asyncio."""

    __slots__ = ("_queue",)

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()

    def put(self, item: Any) -> None:
        """Append an item."""
        self._queue.put_nowait(item)

    def get(self):
        """Awaitable for the oldest item."""
        return self._queue.get()

    def __len__(self) -> int:
        return self._queue.qsize()


class AsyncioRuntime:
    """`rehearse.sync.ports.Runtime` on the running asyncio loop."""

    def __init__(self, start_s: float, speedup: float = 1.0) -> None:
        if speedup <= 0:
            raise ValueError("speedup must be positive")
        self.start_s = start_s
        self.speedup = speedup
        self.loop = asyncio.get_running_loop()
        self._loop_start = self.loop.time()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.failures: list[BaseException] = []

    def now(self) -> float:
        """Scenario Unix seconds."""
        return self.start_s + (self.loop.time() - self._loop_start) * self.speedup

    def reset_clock(self) -> None:
        """Start the scenario clock again from `start_s` now: after a set-up that took wall time
        (loading a large existing book) which must not count as scenario time."""
        self._loop_start = self.loop.time()

    def sleep(self, seconds: float):
        """Awaitable that resumes after `seconds` of scenario time."""
        return asyncio.sleep(seconds / self.speedup)

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run a coroutine as a task; a task that fails is recorded in `failures`."""
        task = self.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            error = task.exception()
            if error is not None:
                self.failures.append(error)

    def call_later(self, delay_s: float, callback: Callable[..., Any], *args: Any) -> None:
        """Call `callback(*args)` after `delay_s` of scenario time; a failure is recorded in
        `failures` (asyncio would only log it)."""
        self.loop.call_later(delay_s / self.speedup, self._guarded, callback, args)

    def _guarded(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            callback(*args)
        except Exception as error:  # noqa: BLE001 - surfaced through `failures`
            self.failures.append(error)

    def queue(self) -> AsyncioQueue:
        """A new work queue."""
        return AsyncioQueue()

    async def shutdown(self) -> None:
        """Cancel every task still running (the engine's workers loop forever)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
