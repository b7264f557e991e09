"""The oracle: what the ERP should hold, derived from the commercial truth (billing and payments
at the cut-off), written into the trace so that reconciliation is a pure function of it."""

from __future__ import annotations

from collections.abc import Iterable

from rehearse.sync.model import InvoiceLine, period_of

# Billing invoice status -> the ERP state the invoice must end in.
EXPECTED_ERP_STATE = {"open": "open", "paid": "paid", "void": "void", "uncollectible": "written_off"}


def service_periods(lines: Iterable[InvoiceLine]) -> str:
    """Service periods of invoice lines, "start-end;start-end" in whole Unix seconds."""
    return ";".join(f"{int(line.period_start_s)}-{int(line.period_end_s)}" for line in lines)


def emit_expectations(trace, *, billing, payments, new_customer_ids: list[str], cutoff_s: float) -> None:
    """One oracle record per customer created in the run, finalized invoice and succeeded charge,
    and a reversal per charge the bank returned (its payment is expected too: it was made)."""
    emit = trace.emit
    for customer_id in new_customer_ids:
        customer = billing.customers[customer_id]
        emit(cutoff_s, "oracle.customer", object_id=customer.id, entity=customer.entity, currency=customer.currency)
    untaxed: set[str] = set()
    for invoice in billing.invoices.values():
        if invoice.finalized_s == 0.0:
            continue  # drafts are never posted
        if invoice.tax_status != "complete":
            # E13: the right outcome is an exception for a person, and nothing in the ERP (nor
            # the payment applied to it) until the invoice is reissued with tax.
            untaxed.add(invoice.id)
            emit(cutoff_s, "oracle.exception", object_id=invoice.id, ref_id=invoice.customer_id,
                 code="tax_incomplete", entity=invoice.entity, currency=invoice.currency,
                 amount_minor=invoice.total_minor)
            continue
        emit(cutoff_s, "oracle.invoice", object_id=invoice.id, ref_id=invoice.customer_id, entity=invoice.entity,
             currency=invoice.currency, amount_minor=invoice.total_minor, tax_minor=invoice.tax_minor,
             period=period_of(invoice.finalized_s), code=EXPECTED_ERP_STATE[invoice.status],
             detail=service_periods(invoice.lines))
    for charge in payments.charges.values():
        if charge.status in ("succeeded", "reversed") and charge.invoice_id not in untaxed:
            emit(cutoff_s, "oracle.payment", object_id=charge.id, parent_id=charge.invoice_id,
                 ref_id=charge.customer_id, entity=charge.entity, currency=charge.currency,
                 amount_minor=charge.amount_minor)
            if charge.status == "reversed":
                emit(cutoff_s, "oracle.reversal", object_id=charge.id, parent_id=charge.invoice_id,
                     ref_id=charge.customer_id, entity=charge.entity, currency=charge.currency,
                     amount_minor=charge.amount_minor)
