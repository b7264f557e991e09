"""The oracle: what the ERP should hold, derived from the commercial truth (billing and payments
at the cut-off), written into the trace so that reconciliation is a pure function of it."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

from rehearse.sync.model import Charge, Invoice, InvoiceLine, period_of

# Billing invoice status -> the ERP state the invoice must end in.
EXPECTED_ERP_STATE = {"open": "open", "paid": "paid", "void": "void", "uncollectible": "written_off"}

# Records built per call to `emit_columns`: bounds the lists built for them at a million invoices,
# taken at the cut-off while the whole simulated world is still in memory.
SLICE_ROWS = 50_000


def service_periods(lines: Sequence[InvoiceLine]) -> str:
    """Service periods of invoice lines, "start-end;start-end" in whole Unix seconds."""
    if len(lines) == 1:  # a renewal's invoice, nearly all of them: no generator to run
        line = lines[0]
        return f"{int(line.period_start_s)}-{int(line.period_end_s)}"
    return ";".join(f"{int(line.period_start_s)}-{int(line.period_end_s)}" for line in lines)


def emit_expectations(trace, *, billing, payments, new_customer_ids: list[str], cutoff_s: float) -> None:
    """One oracle record per customer created in the run, finalized invoice and succeeded charge,
    and a reversal per charge the bank returned (its payment is expected too: it was made).

    `trace` is a `TraceRecorder`: runs of records of one kind go in as columns
    (`TraceRecorder.emit_columns`), a slice at a time, in the order one `emit` each would give."""
    customers = [billing.customers[customer_id] for customer_id in new_customer_ids]
    trace.emit_columns(cutoff_s, "oracle.customer", object_id=_column(customers, "id"),
                       entity=_column(customers, "entity"), currency=_column(customers, "currency"))
    untaxed: set[str] = set()
    run: list[Invoice] = []
    for invoice in billing.invoices.values():
        if invoice.finalized_s == 0.0:
            continue  # drafts are never posted
        if invoice.tax_status != "complete":
            # E13: the right outcome is an exception for a person, and nothing in the ERP (nor
            # the payment applied to it) until the invoice is reissued with tax.
            _emit_invoices(trace, cutoff_s, run)
            run = []
            untaxed.add(invoice.id)
            trace.emit(cutoff_s, "oracle.exception", object_id=invoice.id, ref_id=invoice.customer_id,
                       code="tax_incomplete", entity=invoice.entity, currency=invoice.currency,
                       amount_minor=invoice.total_minor)
            continue
        run.append(invoice)
        if len(run) == SLICE_ROWS:
            _emit_invoices(trace, cutoff_s, run)
            run = []
    _emit_invoices(trace, cutoff_s, run)
    charges: list[Charge] = []
    for charge in payments.charges.values():
        if charge.status in ("succeeded", "reversed") and charge.invoice_id not in untaxed:
            charges.append(charge)
            if charge.status == "reversed":
                _emit_charges(trace, cutoff_s, "oracle.payment", charges)
                _emit_charges(trace, cutoff_s, "oracle.reversal", [charge])
                charges = []
            elif len(charges) == SLICE_ROWS:
                _emit_charges(trace, cutoff_s, "oracle.payment", charges)
                charges = []
    _emit_charges(trace, cutoff_s, "oracle.payment", charges)


def _column(items: list, name: str) -> list:
    return list(map(attrgetter(name), items))


def _emit_invoices(trace, cutoff_s: float, invoices: list[Invoice]) -> None:
    if invoices:
        trace.emit_columns(
            cutoff_s, "oracle.invoice", object_id=_column(invoices, "id"), ref_id=_column(invoices, "customer_id"),
            entity=_column(invoices, "entity"), currency=_column(invoices, "currency"),
            amount_minor=_column(invoices, "total_minor"), tax_minor=_column(invoices, "tax_minor"),
            period=[period_of(invoice.finalized_s) for invoice in invoices],
            code=[EXPECTED_ERP_STATE[invoice.status] for invoice in invoices],
            detail=[service_periods(invoice.lines) for invoice in invoices])


def _emit_charges(trace, cutoff_s: float, kind: str, charges: list[Charge]) -> None:
    if charges:
        trace.emit_columns(
            cutoff_s, kind, object_id=_column(charges, "id"), parent_id=_column(charges, "invoice_id"),
            ref_id=_column(charges, "customer_id"), entity=_column(charges, "entity"),
            currency=_column(charges, "currency"), amount_minor=_column(charges, "amount_minor"))
