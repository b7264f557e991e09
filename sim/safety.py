"""The safety phase's checker: invariants that must hold at every moment, checked as the ERP
records each document, not only at the cut-off.

It sits between the ERP fake and the trace, sees every ``erp.*`` record, and traces a
``safety.violation`` (with the virtual time and the reason) each time an invariant breaks:

- I4: no payment applied beyond what is open on its invoice;
- I12: every ERP entry balances;
- I13: at most one ERP document per (source id, document type);
- I14: no transaction posted into a period already closed (customers are master data, not posted
  into periods).
"""

from __future__ import annotations

from typing import Any

from rehearse.sync.model import DOCUMENT_TYPES


class SafetyMonitor:
    """A Trace that forwards every record and checks the ERP's as they pass."""

    def __init__(self, trace) -> None:
        self.trace = trace
        self.violations: dict[str, int] = {}
        # Document type -> source ids posted: one set per type keeps no (type, id) tuple per
        # document, which at a million subscriptions is hundreds of MB.
        self._documents: dict[str, set[str]] = {doc_type: set() for doc_type in DOCUMENT_TYPES}
        self._open_minor: dict[str, int] = {}  # invoice source id -> amount still open
        self._closed: set[tuple[str, str]] = set()  # (entity or "*", period)

    # The same parameters as `rehearse.sim.recorder.TraceRecorder.emit` (a test holds them
    # together): named, a call binds its keywords without building a dict, and so does the forward.
    def emit(self, t_s: float, kind: str, *, object_id: str = "", ref_id: str = "", parent_id: str = "",
             entity: str = "", currency: str = "", amount_minor: int = 0, tax_minor: int = 0,
             debit_minor: int = 0, credit_minor: int = 0, period: str = "", code: str = "", detail: str = "",
             value: float = 0.0, **unknown: Any) -> None:
        """Forward a record; check it when it is one of the ERP's."""
        if unknown:  # refused as the recorder refuses it (forwarding `**unknown` would build a dict per call)
            raise TypeError(f"trace kind {kind!r}: unknown columns {sorted(unknown)}")
        self.trace.emit(t_s, kind, object_id=object_id, ref_id=ref_id, parent_id=parent_id, entity=entity,
                        currency=currency, amount_minor=amount_minor, tax_minor=tax_minor, debit_minor=debit_minor,
                        credit_minor=credit_minor, period=period, code=code, detail=detail, value=value)
        if kind == "erp.document":
            self._document(t_s, code, ref_id, entity, period, amount_minor, debit_minor, credit_minor)
        elif kind == "erp.payment_applied":
            self._applied(t_s, parent_id, amount_minor)
        elif kind == "erp.period_closed":
            self._closed.add((entity or "*", period))  # no entity named: every entity

    def _document(self, t_s: float, doc_type: str, source: str, entity: str, period: str, amount_minor: int,
                  debit_minor: int, credit_minor: int) -> None:
        if debit_minor != credit_minor:
            self._violated(t_s, "I12", source, f"{doc_type} {source} does not balance")
        posted = self._documents.get(doc_type)
        if posted is not None:
            if source in posted:
                self._violated(t_s, "I13", source, f"a second ERP {doc_type} for {source}")
            posted.add(source)
        closed = self._closed
        # A customer is master data: the ERP books no period for it, whatever month it was created in.
        if closed and doc_type != "customer" and (("*", period) in closed or (entity, period) in closed):
            self._violated(t_s, "I14", source, f"{doc_type} {source} posted into closed period {period}")
        if doc_type == "invoice":
            self._open_minor[source] = self._open_minor.get(source, 0) + amount_minor

    def _applied(self, t_s: float, invoice: str, applied_minor: int) -> None:
        if not applied_minor:
            return
        # A reversal applies a negative amount: what it takes back is open again.
        open_minor = self._open_minor.get(invoice, 0)
        if applied_minor > open_minor:
            self._violated(t_s, "I4", invoice,
                           f"{applied_minor} applied to {invoice}, which had {open_minor} open")
        left = open_minor - applied_minor
        if left > 0:
            self._open_minor[invoice] = left
        else:
            self._open_minor.pop(invoice, None)  # settled: keep memory to the open invoices

    def _violated(self, t_s: float, invariant: str, object_id: str, reason: str) -> None:
        self.violations[invariant] = self.violations.get(invariant, 0) + 1
        self.trace.emit(t_s, "safety.violation", object_id=object_id, code=invariant, detail=reason)
