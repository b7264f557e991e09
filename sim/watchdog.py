"""A wall-clock watchdog for the simulation: an engine that never yields (a loop that does not
await the runtime) freezes virtual time, and SimPy would wait for it forever.

A daemon thread samples a progress counter (virtual time, and SimPy's event count) every
`poll_s`; when neither moved for `limit_s` of wall time it raises `SimulationStalled` in the
simulating thread (``PyThreadState_SetAsyncExc``, which lands at the next bytecode, so it works in
any thread and interrupts a pure-Python busy loop). The simulated code never sees the wall clock.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from types import TracebackType


class SimulationStalled(BaseException):
    """Virtual time stood still too long. A BaseException, so an engine's ``except Exception``
    cannot swallow it."""


class Watchdog:
    """Use as a context manager around the simulation loop; `progress` must be cheap and
    thread-safe to read (a float and an int attribute are)."""

    def __init__(self, progress: Callable[[], object], limit_s: float, poll_s: float | None = None) -> None:
        self.progress = progress
        self.limit_s = limit_s
        self.poll_s = poll_s if poll_s is not None else min(1.0, limit_s / 4)
        self.fired = False
        self._stop = threading.Event()
        self._target = threading.get_ident()
        self._thread = threading.Thread(target=self._watch, name="rehearse-watchdog", daemon=True)

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        if self.fired and not isinstance(error, SimulationStalled):
            # Fired as the loop ended: take back the exception before it lands somewhere else.
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._target), None)

    def _watch(self) -> None:
        last = self.progress()
        since = time.monotonic()
        while not self._stop.wait(self.poll_s):
            now = self.progress()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= self.limit_s and not self.fired:
                self.fired = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._target),
                                                           ctypes.py_object(SimulationStalled))
