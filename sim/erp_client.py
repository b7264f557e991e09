"""The engine's ERP client in process: each call takes a sampled latency on the runtime's clock,
passes the ERP fake's concurrency gate, applies, and may meet an injected fault.

Faults surface as the live world's errors: a 503 before anything was applied, or a reply lost after
the ERP applied the call (`ErpTimeout`, the ambiguous outcome).
"""

from __future__ import annotations

import random

from rehearse.fakes.erp import Erp
from rehearse.sim.distributions import LogNormal
from rehearse.sync.errors import ErpError, ErpTimeout
from rehearse.sync.model import ErpDocument
from rehearse.sync.ports import Runtime

REJECTION_LATENCY_S = 0.05  # a concurrency rejection is answered at once


class InProcessErpClient:
    """`rehearse.sync.ports.ErpClient` over the in-process ERP fake."""

    def __init__(
        self, *, runtime: Runtime, erp: Erp, latency: LogNormal, rng: random.Random,
        unavailable_probability: float = 0.0, reply_lost_probability: float = 0.0, trace,
    ) -> None:
        self.runtime = runtime
        self.erp = erp
        self.latency = latency
        self.rng = rng
        self.unavailable_probability = unavailable_probability
        self.reply_lost_probability = reply_lost_probability
        self.trace = trace

    async def post(self, document: ErpDocument) -> str:
        """Create or upsert a document; returns its internal id or raises an ErpFailure."""
        runtime = self.runtime
        started_s = runtime.now()
        key = document.external_id or document.source_id
        rejection = self.erp.begin_request()
        if rejection is not None:
            await runtime.sleep(REJECTION_LATENCY_S)
            self.trace.emit(runtime.now(), "erp.call", object_id=key, code=str(rejection.status),
                            value=REJECTION_LATENCY_S)
            raise ErpError(rejection.status, rejection.code, rejection.message, rejection.retry_after_s)
        try:
            latency_s = self.latency.sample_s()
            await runtime.sleep(latency_s)
            if self.unavailable_probability and self.rng.random() < self.unavailable_probability:
                self.trace.emit(runtime.now(), "erp.call", object_id=key, code="503", value=latency_s)
                raise ErpError(503, "SERVICE_UNAVAILABLE", "injected: the ERP is unavailable", None)
            response = self.erp.post(document, runtime.now(), started_s)
        finally:
            self.erp.end_request()
        self.trace.emit(runtime.now(), "erp.call", object_id=key, code=response.code or str(response.status),
                        value=latency_s)
        if response.status >= 400:
            raise ErpError(response.status, response.code, response.message, response.retry_after_s)
        if self.reply_lost_probability and self.rng.random() < self.reply_lost_probability:
            raise ErpTimeout(f"injected: reply lost after the ERP applied {key}")
        return response.internal_id

    async def lookup(self, doc_type: str, external_id: str) -> str | None:
        """The internal id for an external id, or None."""
        runtime = self.runtime
        rejection = self.erp.begin_request()
        if rejection is not None:
            await runtime.sleep(REJECTION_LATENCY_S)
            self.trace.emit(runtime.now(), "erp.call", object_id=external_id,
                            code=f"lookup {rejection.status}", value=REJECTION_LATENCY_S)
            raise ErpError(rejection.status, rejection.code, rejection.message, rejection.retry_after_s)
        try:
            latency_s = self.latency.sample_s()
            await runtime.sleep(latency_s)
            response = self.erp.lookup(doc_type, external_id)
        finally:
            self.erp.end_request()
        self.trace.emit(runtime.now(), "erp.call", object_id=external_id, code=f"lookup {response.status}",
                        value=latency_s)
        return response.internal_id if response.status == 200 else None
