"""The engine's Runtime port in virtual time, on SimPy.

SimPy drives any object with ``send``/``throw``, so a coroutine is a SimPy process: when engine
code awaits one of the objects below, their ``__await__`` yields a SimPy event and the process
resumes when virtual time reaches it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

import simpy


class _Wait:
    """Awaitable wrapping one SimPy event; the awaiting coroutine gets the event's value."""

    __slots__ = ("event",)

    def __init__(self, event: simpy.Event) -> None:
        self.event = event

    def __await__(self):
        return (yield self.event)


class _Get:
    """Awaitable that takes the oldest queue item, suspending only when the queue is empty."""

    __slots__ = ("queue",)

    def __init__(self, queue: SimQueue) -> None:
        self.queue = queue

    def __await__(self):
        queue = self.queue
        if queue.items:
            # Hot path: an item is there, so no SimPy event is created at all.
            return queue.items.popleft()
        event = queue.env.event()
        queue.waiters.append(event)
        return (yield event)


class SimQueue:
    """A FIFO work queue in virtual time."""

    __slots__ = ("env", "items", "waiters")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.items: deque[Any] = deque()
        self.waiters: deque[simpy.Event] = deque()

    def put(self, item: Any) -> None:
        """Append an item, handing it straight to the longest-waiting getter if there is one."""
        if self.waiters:
            self.waiters.popleft().succeed(item)
        else:
            self.items.append(item)

    def get(self) -> _Get:
        """Awaitable for the oldest item."""
        return _Get(self)

    def __len__(self) -> int:
        return len(self.items)


class SimPyRuntime:
    """`rehearse.sync.ports.Runtime` on a SimPy environment; `now` is virtual Unix seconds."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        # Spawned processes not finished yet, with their coroutines (see `close_processes`).
        self._running: dict[simpy.Process, Coroutine[Any, Any, Any]] = {}
        # `now` is called tens of times per subscription: bind the clock's getter once instead of
        # a method that reads a property (two Python calls).
        # (mypy sees the property read off the class as its getter function, and a method replaced.)
        self.now: Callable[[], float] = type(env).now.fget.__get__(env)  # type: ignore[method-assign,attr-defined]

    def now(self) -> float:  # replaced per instance in __init__; kept for the Runtime protocol
        """Virtual Unix seconds."""
        return self.env.now

    def sleep(self, seconds: float) -> _Wait:
        """Awaitable that resumes after `seconds` of virtual time."""
        return _Wait(self.env.timeout(seconds))

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run a coroutine as a SimPy process."""
        # SimPy's stubs take a generator; SimPy drives anything with send/throw, a coroutine too.
        process = self.env.process(coroutine)  # type: ignore[arg-type]
        self._running[process] = coroutine
        process.callbacks.append(self._finished)

    def _finished(self, process: simpy.Process) -> None:
        self._running.pop(process, None)

    def close_processes(self) -> None:
        """Close every spawned coroutine still suspended, in the order they were spawned.

        A finished run leaves workers waiting on the clock or a queue. Left to the garbage
        collector, they are closed after `World.release` has emptied the objects they use, and
        a `finally` that reads one of them (``if generation == self.generation``) fails inside
        the collector, which prints the error on the user's terminal. Closed here, while the
        world is whole, their `finally` blocks run as they would on any cancellation."""
        running, self._running = self._running, {}
        for coroutine in running.values():
            try:
                coroutine.close()
            except Exception:  # noqa: BLE001 - the run is over; its results are already recorded
                pass

    def call_later(self, delay_s: float, callback: Callable[..., Any], *args: Any) -> None:
        """Call `callback(*args)` after `delay_s` virtual seconds, without a process."""
        self.env.timeout(delay_s).callbacks.append(lambda _event: callback(*args))

    def queue(self) -> SimQueue:
        """A new work queue."""
        return SimQueue(self.env)
