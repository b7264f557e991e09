"""The payment faults of a scenario, drawn for the gateway fake as it charges (see
`rehearse.fakes.payments.PaymentFaults`): one seeded stream, one trace record per injection."""

from __future__ import annotations

import random

from rehearse.fakes.payments import UnknownOutcome
from rehearse.sim.faults import FaultPlan
from rehearse.sync.model import Charge


class PaymentFaultDraws:
    """Answers the gateway's fault questions from the fault plan."""

    def __init__(self, faults: FaultPlan, rng: random.Random, trace) -> None:
        self.faults = faults
        self.rng = rng
        self.trace = trace

    def unknown_outcome(self, invoice_id: str, now_s: float) -> UnknownOutcome | None:
        """Whether this charge call times out, and whether it was applied all the same."""
        for fault in self.faults.active("payment_unknown_outcome", now_s):
            if self.rng.random() < fault.probability:
                applied = self.rng.random() < fault.applied_probability
                self.trace.emit(now_s, "fault.injected", object_id=invoice_id, code=fault.kind,
                                detail=fault.name, value=1.0 if applied else 0.0)
                return UnknownOutcome(applied, fault.lookup_after_s)
        return None

    def return_after_s(self, charge: Charge, now_s: float) -> float | None:
        """After how long the bank returns this debit, or None."""
        for fault in self.faults.active("ach_failure", now_s):
            if self.rng.random() < fault.probability:
                self.trace.emit(now_s, "fault.injected", object_id=charge.id, code=fault.kind,
                                detail=fault.name)
                return fault.return_after_days * 86400.0
        return None
