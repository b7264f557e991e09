"""Call faults of the catalogue at the HTTP layer: `PlanCallFaults` answers the fakes' `FaultGate`
(``rehearse.fakes.http``) for each request, from the same `FaultPlan` the simulation uses, on a
live clock.

The decisions mirror the in-process ERP client (``rehearse.sim.erp_client``) stage by stage:
connect (``outage``, ``connect_timeout``: the connection is dropped after ``timeout_s``, nothing
applied), admission (``maintenance``: 503 with Retry-After the rest of the window; ``throttle``:
429 with Retry-After; ``concurrency_cap``: the ERP's own cap is lowered and its gate answers 429),
latency (``latency``, ``degradation``: extra time spent inside the ERP's concurrency gate),
answer (``server_error``: a 5xx; ``lock_conflict``: 409 RCRD_HAS_BEEN_CHANGED on payments, voids
and write-offs) and reply (``reply_lost``: applied, then the connection is dropped after
``timeout_s``). Live code may read the wall clock: `LiveClock` maps it to scenario time, so a
scenario's fault windows and Retry-After values (scenario seconds) keep their meaning when the
run is sped up; waits are divided by the speed-up.
"""

from __future__ import annotations

import random
import time
from typing import Protocol

from rehearse.fakes.erp import Erp
from rehearse.fakes.http import NO_FAULT, FaultAnswer
from rehearse.sim.erp_client import extra_latency_s
from rehearse.sim.faults import FaultPlan

_LOCKABLE_PATHS = ("/record/v1/payment", "/record/v1/void", "/record/v1/writeoff")


class Clock(Protocol):
    """Scenario time as live code reads it: `LiveClock`, or a live run's runtime clock."""

    def now(self) -> float:
        """Scenario Unix seconds now."""

    def wall_s(self, scenario_s: float) -> float:
        """How long `scenario_s` scenario seconds last on the wall."""


class LiveClock:
    """Scenario time on the wall clock: ``start_s + elapsed wall seconds * speedup``."""

    def __init__(self, start_s: float | None = None, speedup: float = 1.0) -> None:
        if speedup <= 0:
            raise ValueError("speedup must be positive")
        self._wall_start = time.time()
        self._monotonic_start = time.monotonic()
        self.start_s = self._wall_start if start_s is None else start_s
        self.speedup = speedup

    def now(self) -> float:
        """Scenario Unix seconds now."""
        return self.start_s + (time.monotonic() - self._monotonic_start) * self.speedup

    def wall_s(self, scenario_s: float) -> float:
        """How long `scenario_s` scenario seconds last on the wall."""
        return scenario_s / self.speedup


class PlanCallFaults:
    """`rehearse.fakes.http.CallFaults` from a `FaultPlan` on a `LiveClock` (or any `Clock`)."""

    def __init__(self, plan: FaultPlan, *, clock: Clock, rng: random.Random, erp: Erp | None = None,
                 trace=None) -> None:
        self.plan = plan
        self.clock = clock
        self.rng = rng
        self.erp = erp
        self.trace = trace
        self._base_limit = erp.concurrency_limit if erp is not None else 0

    def _injected(self, fault, now: float, path: str) -> None:
        if self.trace is not None:
            self.trace.emit(now, "fault.injected", object_id=path, code=fault.kind, detail=fault.name)

    def _active(self, kind: str, system: str, now: float) -> tuple:
        return tuple(fault for fault in self.plan.active(kind, now) if fault.system == system)

    def decide(self, system: str, method: str, path: str) -> FaultAnswer:
        """The faults that strike one request to `system` now."""
        if self.plan.empty:  # no fault configured: no draw, no answer but the default
            if self.erp is not None and system == "erp" and self.erp.concurrency_limit != self._base_limit:
                self.erp.set_concurrency_limit(self._base_limit)  # a cap removed by the admin API ends
            return NO_FAULT
        now = self.clock.now()
        wall_s = self.clock.wall_s
        rng = self.rng
        for fault in self._active("outage", system, now) + self._active("connect_timeout", system, now):
            if fault.kind == "outage" or rng.random() < fault.probability:
                self._injected(fault, now, path)
                return FaultAnswer(delay_s=wall_s(fault.timeout_s), drop=True)
        for fault in self._active("maintenance", system, now):
            self._injected(fault, now, path)
            return FaultAnswer(status=503, code="SERVICE_UNAVAILABLE", message="injected: under maintenance",
                               retry_after_s=fault.window.remaining_s(now))
        for fault in self._active("throttle", system, now):
            if rng.random() < fault.probability:
                self._injected(fault, now, path)
                return FaultAnswer(status=429, code="SSS_REQUEST_LIMIT_EXCEEDED", message="injected: throttled",
                                   retry_after_s=fault.retry_after_s)
        if self.erp is not None and system == "erp":
            caps = self._active("concurrency_cap", system, now)
            limit = min(self._base_limit, *(fault.limit for fault in caps)) if caps else self._base_limit
            if limit != self.erp.concurrency_limit:
                self.erp.set_concurrency_limit(limit)
        latency_s = 0.0
        for fault in self._active("latency", system, now):
            latency_s += extra_latency_s(fault, rng)
        for fault in self._active("degradation", system, now):
            latency_s += fault.latency_ms_max / 1000.0 * fault.window.progress(now)
        for fault in self._active("server_error", system, now):
            if rng.random() < fault.probability:
                self._injected(fault, now, path)
                code = "SERVICE_UNAVAILABLE" if fault.status == 503 else "UNEXPECTED_ERROR"
                return FaultAnswer(delay_s=wall_s(latency_s), status=fault.status, code=code,
                                   message=f"injected: answered {fault.status}")
        if method == "POST" and path.startswith(_LOCKABLE_PATHS):
            for fault in self._active("lock_conflict", system, now):
                if rng.random() < fault.probability:
                    self._injected(fault, now, path)
                    return FaultAnswer(delay_s=wall_s(latency_s), status=409, code="RCRD_HAS_BEEN_CHANGED",
                                       message="injected: the invoice was changed since the request started")
        for fault in self._active("reply_lost", system, now):
            if method == "POST" and rng.random() < fault.probability:
                self._injected(fault, now, path)
                return FaultAnswer(latency_s=wall_s(latency_s), lose_reply=True,
                                   reply_delay_s=wall_s(fault.timeout_s))
        if latency_s:
            return FaultAnswer(latency_s=wall_s(latency_s))
        return NO_FAULT
