"""The engine's ERP client in process: each call takes a sampled latency on the runtime's clock,
passes the ERP fake's concurrency gate, applies, and meets the call faults of the fault plan.

Faults surface as the live world's errors: `ErpConnectError` when the call never connected
(outage, connect timeout: nothing applied), `ErpError` 429 with Retry-After (throttle), 503 with
Retry-After (maintenance) or a 5xx before anything was applied (server error), and `ErpTimeout`
when the ERP applied the call but the reply was lost (the ambiguous outcome).
"""

from __future__ import annotations

import math
import random

from rehearse.fakes.erp import Erp
from rehearse.sim.distributions import LogNormal
from rehearse.sim.erp_wire import erp_lookup, erp_post
from rehearse.sim.faults import FaultPlan, Latency
from rehearse.sync.errors import ErpConnectError, ErpError, ErpTimeout
from rehearse.sync.model import ErpDocument
from rehearse.sync.ports import Runtime

REJECTION_LATENCY_S = 0.05  # a concurrency rejection or an error page is answered at once


def extra_latency_s(fault: Latency, rng: random.Random) -> float:
    """One draw of a latency fault's distribution, in seconds."""
    if fault.distribution == "fixed":
        return fault.latency_ms / 1000.0
    if fault.distribution == "uniform":
        return (fault.latency_ms_min + rng.random() * (fault.latency_ms_max - fault.latency_ms_min)) / 1000.0
    if fault.distribution == "lognormal":
        sigma = math.log(fault.latency_ms_p95 / fault.latency_ms_p50) / 1.6448536269514722
        return rng.lognormvariate(math.log(fault.latency_ms_p50 / 1000.0), sigma)
    return fault.latency_ms_scale / 1000.0 * rng.paretovariate(fault.alpha)


class InProcessErpClient:
    """`rehearse.sync.ports.ErpClient` over the in-process ERP fake."""

    def __init__(
        self, *, runtime: Runtime, erp: Erp, latency: LogNormal, rng: random.Random, trace,
        faults: FaultPlan | None = None, contracts=None,
    ) -> None:
        self.runtime = runtime
        self.erp = erp
        self.latency = latency
        self.rng = rng
        self.trace = trace
        self.faults = faults if faults is not None else FaultPlan([])
        self._base_limit = erp.concurrency_limit
        # `rehearse.contracts.consumer.ConsumerContracts`: every request is checked against the
        # ERP's document before it is "sent" (None: not checked).
        self.contracts = contracts

    async def post(self, document: ErpDocument) -> str:
        """Create or upsert a document; returns its internal id or raises an ErpFailure."""
        key = document.external_id or document.source_id
        if self.contracts is not None:
            self.contracts.check("erp", *erp_post(document))
        await self._before(key)
        runtime = self.runtime
        started_s = runtime.now()
        try:
            latency_s = await self._wait_latency()
            self._server_error(key, latency_s)
            self._lock_conflict(document, key, latency_s)
            response = self.erp.post(document, runtime.now(), started_s)
        finally:
            self.erp.end_request()
        self.trace.emit(runtime.now(), "erp.call", object_id=key, code=response.code or str(response.status),
                        value=latency_s)
        if response.status >= 400:
            raise ErpError(response.status, response.code, response.message, response.retry_after_s)
        await self._maybe_lose_reply(key)
        return response.internal_id

    async def lookup(self, doc_type: str, external_id: str) -> str | None:
        """The internal id for an external id, or None."""
        if self.contracts is not None:
            self.contracts.check("erp", *erp_lookup(doc_type, external_id))
        await self._before(external_id, label="lookup ")
        runtime = self.runtime
        try:
            latency_s = await self._wait_latency()
            self._server_error(external_id, latency_s, label="lookup ")
            response = self.erp.lookup(doc_type, external_id)
        finally:
            self.erp.end_request()
        self.trace.emit(runtime.now(), "erp.call", object_id=external_id, code=f"lookup {response.status}",
                        value=latency_s)
        return response.internal_id if response.status == 200 else None

    # -- the stages of a call, each meeting its faults --------------------------------------------

    async def _before(self, key: str, label: str = "") -> None:
        """Connect and be admitted: outage, connect timeout, maintenance, throttle, concurrency."""
        runtime = self.runtime
        faults = self.faults
        now = runtime.now()
        for fault in faults.active("outage", now) + faults.active("connect_timeout", now):
            if fault.kind == "outage" or self.rng.random() < fault.probability:
                self._injected(fault, key)
                await runtime.sleep(fault.timeout_s)
                self.trace.emit(runtime.now(), "erp.call", object_id=key, code=f"{label}CONNECT_ERROR",
                                value=fault.timeout_s)
                raise ErpConnectError(f"injected {fault.kind}: could not connect to the ERP")
        for fault in faults.active("maintenance", now):
            self._injected(fault, key)
            await self._refuse(key, label, 503, "SERVICE_UNAVAILABLE", "injected: ERP under maintenance",
                               fault.window.remaining_s(now))
        for fault in faults.active("throttle", now):
            if self.rng.random() < fault.probability:
                self._injected(fault, key)
                await self._refuse(key, label, 429, "SSS_REQUEST_LIMIT_EXCEEDED", "injected: throttled",
                                   fault.retry_after_s)
        caps = faults.active("concurrency_cap", now)
        limit = min(self._base_limit, *(fault.limit for fault in caps)) if caps else self._base_limit
        if limit != self.erp.concurrency_limit:
            self.erp.set_concurrency_limit(limit)
        rejection = self.erp.begin_request()
        if rejection is not None:
            for fault in caps:
                self._injected(fault, key)
            await self._refuse(key, label, rejection.status, rejection.code, rejection.message,
                               rejection.retry_after_s)

    def _injected(self, fault, key: str) -> None:
        self.trace.emit(self.runtime.now(), "fault.injected", object_id=key, code=fault.kind,
                        detail=fault.name)

    async def _refuse(self, key: str, label: str, status: int, code: str, message: str,
                      retry_after_s: float | None) -> None:
        await self.runtime.sleep(REJECTION_LATENCY_S)
        self.trace.emit(self.runtime.now(), "erp.call", object_id=key, code=f"{label}{status}",
                        value=REJECTION_LATENCY_S)
        raise ErpError(status, code, message, retry_after_s)

    async def _wait_latency(self) -> float:
        now = self.runtime.now()
        latency_s = self.latency.sample_s()
        for fault in self.faults.active("latency", now):
            latency_s += extra_latency_s(fault, self.rng)
        for fault in self.faults.active("degradation", now):
            latency_s += fault.latency_ms_max / 1000.0 * fault.window.progress(now)
        await self.runtime.sleep(latency_s)
        return latency_s

    def _server_error(self, key: str, latency_s: float, label: str = "") -> None:
        for fault in self.faults.active("server_error", self.runtime.now()):
            if self.rng.random() < fault.probability:
                self._injected(fault, key)
                self.trace.emit(self.runtime.now(), "erp.call", object_id=key, code=f"{label}{fault.status}",
                                value=latency_s)
                code = "SERVICE_UNAVAILABLE" if fault.status == 503 else "UNEXPECTED_ERROR"
                raise ErpError(fault.status, code, f"injected: ERP answered {fault.status}", None)

    def _lock_conflict(self, document: ErpDocument, key: str, latency_s: float) -> None:
        if document.doc_type not in ("payment", "void", "writeoff"):
            return  # only records that change an existing invoice can meet a changed one
        for fault in self.faults.active("lock_conflict", self.runtime.now()):
            if self.rng.random() < fault.probability:
                self._injected(fault, key)
                self.trace.emit(self.runtime.now(), "erp.call", object_id=key, code="RCRD_HAS_BEEN_CHANGED",
                                value=latency_s)
                raise ErpError(409, "RCRD_HAS_BEEN_CHANGED",
                               "injected: the invoice was changed since the request started", None)

    async def _maybe_lose_reply(self, key: str) -> None:
        for fault in self.faults.active("reply_lost", self.runtime.now()):
            if self.rng.random() < fault.probability:
                self._injected(fault, key)
                await self.runtime.sleep(fault.timeout_s)
                raise ErpTimeout(f"injected: reply lost after the ERP applied {key}")
