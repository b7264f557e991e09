"""The safety phase's checker: invariants that must hold at every moment, checked as the ERP
records each document, not only at the cut-off.

It sits between the ERP fake and the trace, sees every ``erp.*`` record, and traces a
``safety.violation`` (with the virtual time and the reason) each time an invariant breaks:

- I4: no payment applied beyond what is open on its invoice;
- I12: every ERP entry balances;
- I13: at most one ERP document per (source id, document type);
- I14: nothing posted into a period already closed.
"""

from __future__ import annotations

from typing import Any

_COUNTED_TYPES = ("invoice", "payment", "void", "writeoff", "reversal")


class SafetyMonitor:
    """A Trace that forwards every record and checks the ERP's as they pass."""

    def __init__(self, trace) -> None:
        self.trace = trace
        self.violations: dict[str, int] = {}
        # Document type -> source ids posted: one set per type keeps no (type, id) tuple per
        # document, which at a million subscriptions is hundreds of MB.
        self._documents: dict[str, set[str]] = {doc_type: set() for doc_type in _COUNTED_TYPES}
        self._open_minor: dict[str, int] = {}  # invoice source id -> amount still open
        self._closed: set[tuple[str, str]] = set()  # (entity or "*", period)

    def emit(self, t_s: float, kind: str, **fields: Any) -> None:
        """Forward a record; check it when it is one of the ERP's."""
        self.trace.emit(t_s, kind, **fields)
        if kind == "erp.document":
            self._document(t_s, fields)
        elif kind == "erp.payment_applied":
            self._applied(t_s, fields)
        elif kind == "erp.period_closed":
            self._closed.add((fields.get("entity", "*"), fields.get("period", "")))

    def _document(self, t_s: float, fields: dict[str, Any]) -> None:
        doc_type, source = fields.get("code", ""), fields.get("ref_id", "")
        if fields.get("debit_minor", 0) != fields.get("credit_minor", 0):
            self._violated(t_s, "I12", source, f"{doc_type} {source} does not balance")
        posted = self._documents.get(doc_type)
        if posted is not None:
            if source in posted:
                self._violated(t_s, "I13", source, f"a second ERP {doc_type} for {source}")
            posted.add(source)
        period = fields.get("period", "")
        if ("*", period) in self._closed or (fields.get("entity", ""), period) in self._closed:
            self._violated(t_s, "I14", source, f"{doc_type} {source} posted into closed period {period}")
        if doc_type == "invoice":
            self._open_minor[source] = self._open_minor.get(source, 0) + fields.get("amount_minor", 0)

    def _applied(self, t_s: float, fields: dict[str, Any]) -> None:
        invoice, applied_minor = fields.get("parent_id", ""), fields.get("amount_minor", 0)
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
