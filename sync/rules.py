"""Posting rules: a commercial record -> the ERP documents that represent it (DOMAIN.md section 7).

Plain functions over frozen data; no I/O. External ids are a pure function of the source id, which
is what makes ERP writes idempotent.
"""

from __future__ import annotations

from rehearse.sync import accounts
from rehearse.sync.model import Charge, Customer, ErpDocument, Invoice, JournalLine, period_of

# Event types that never produce a posting: drafts, previews, failed attempts, subscription moves.
IGNORED_EVENT_TYPES = frozenset({
    "invoice.created", "invoice.upcoming", "invoice.payment_failed", "charge.failed",
    "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
})

INVOICE_EVENT_TYPES = frozenset({
    "invoice.finalized", "invoice.paid", "invoice.voided", "invoice.marked_uncollectible", "invoice.reopened",
})

# Suffixes of documents derived from another record's source id.
_DERIVED_TYPES = ("void", "writeoff", "reversal", "recovery")


def external_id(doc_type: str, source_id: str) -> str:
    """The ERP external id of a document: the source id, suffixed for documents derived from an
    invoice or a payment (a void, a write-off or a recovery of `in_1` is `in_1:void`,
    `in_1:writeoff`, `in_1:recovery`; the reversal of payment `ch_1` is `ch_1:reversal`)."""
    if doc_type in _DERIVED_TYPES:
        return f"{source_id}:{doc_type}"
    return source_id


def customer_document(customer: Customer) -> ErpDocument:
    """Customer master record: upserted by external id, in its subsidiary and currency. Master
    data is booked in no accounting period, so its posting period is empty."""
    return ErpDocument(
        "customer", customer.id, customer.id, "", customer.entity, customer.currency, 0, 0,
        customer.created_s, "", (), (), customer.name,
    )


def _revenue_side(invoice: Invoice) -> list[JournalLine]:
    """Deferred revenue per line (recognized ratably later), or revenue for a line whose service
    period is already over when the invoice is finalized (a proration billed with the next
    renewal: nothing is left to defer); negative proration lines debit it."""
    journal = []
    for line in invoice.lines:
        account = accounts.REVENUE if line.period_end_s <= invoice.finalized_s else accounts.DEFERRED_REVENUE
        if line.amount_minor >= 0:
            journal.append(JournalLine(account, 0, line.amount_minor))
        else:
            journal.append(JournalLine(account, -line.amount_minor, 0))
    if invoice.tax_minor >= 0:
        journal.append(JournalLine(accounts.TAX_PAYABLE, 0, invoice.tax_minor))
    else:
        journal.append(JournalLine(accounts.TAX_PAYABLE, -invoice.tax_minor, 0))
    return journal


def invoice_document(invoice: Invoice) -> ErpDocument:
    """AR invoice: Dr AR total; Cr deferred revenue per line (revenue for a past period); Cr tax
    payable. Dated at finalization.
    A negative total (a downgrade's credit exceeds its charge) credits AR, so no line is negative."""
    total_minor = invoice.total_minor
    receivable = (JournalLine(accounts.ACCOUNTS_RECEIVABLE, total_minor, 0) if total_minor >= 0
                  else JournalLine(accounts.ACCOUNTS_RECEIVABLE, 0, -total_minor))
    journal = [receivable, *_revenue_side(invoice)]
    return ErpDocument(
        "invoice", invoice.id, invoice.id, invoice.customer_id, invoice.entity, invoice.currency,
        invoice.total_minor, invoice.tax_minor, invoice.finalized_s, period_of(invoice.finalized_s),
        invoice.lines, tuple(journal),
    )


def payment_document(charge: Charge) -> ErpDocument:
    """Customer payment applied to its invoice: Dr clearing (gross), Cr AR."""
    journal = (
        JournalLine(accounts.CLEARING, charge.amount_minor, 0),
        JournalLine(accounts.ACCOUNTS_RECEIVABLE, 0, charge.amount_minor),
    )
    return ErpDocument(
        "payment", charge.id, charge.id, charge.invoice_id, charge.entity, charge.currency,
        charge.amount_minor, 0, charge.created_s, period_of(charge.created_s), (), journal,
    )


def reversal_document(charge: Charge) -> ErpDocument:
    """A returned bank debit: the payment's journal with debits and credits swapped (Dr AR, Cr
    clearing), dated when the bank returned it. Its parent is the payment (the charge id)."""
    journal = (
        JournalLine(accounts.ACCOUNTS_RECEIVABLE, charge.amount_minor, 0),
        JournalLine(accounts.CLEARING, 0, charge.amount_minor),
    )
    return ErpDocument(
        "reversal", external_id("reversal", charge.id), charge.id, charge.id, charge.entity, charge.currency,
        charge.amount_minor, 0, charge.reversed_s, period_of(charge.reversed_s), (), journal,
    )


def void_document(invoice: Invoice, voided_s: float) -> ErpDocument:
    """Reversal of a voided invoice: the invoice's journal with debits and credits swapped."""
    original = invoice_document(invoice).journal
    journal = tuple(JournalLine(line.account, line.credit_minor, line.debit_minor) for line in original)
    return ErpDocument(
        "void", external_id("void", invoice.id), invoice.id, invoice.id, invoice.entity,
        invoice.currency, invoice.total_minor, invoice.tax_minor, voided_s, period_of(voided_s), (), journal,
    )


def writeoff_document(invoice: Invoice, written_off_s: float) -> ErpDocument:
    """Write-off of what is still owed on an uncollectible invoice: Dr bad debt, Cr AR."""
    open_minor = invoice.total_minor - invoice.amount_paid_minor
    journal = (
        JournalLine(accounts.BAD_DEBT, open_minor, 0),
        JournalLine(accounts.ACCOUNTS_RECEIVABLE, 0, open_minor),
    )
    return ErpDocument(
        "writeoff", external_id("writeoff", invoice.id), invoice.id, invoice.id, invoice.entity,
        invoice.currency, open_minor, 0, written_off_s, period_of(written_off_s), (), journal,
    )


def recovery_document(charge: Charge) -> ErpDocument:
    """A written-off invoice paid after all (by `charge`): the write-off undone for the amount
    paid (Dr AR, Cr bad debt), dated at the payment, before the payment applies to the reopened
    invoice. Its parent is the invoice's write-off."""
    journal = (
        JournalLine(accounts.ACCOUNTS_RECEIVABLE, charge.amount_minor, 0),
        JournalLine(accounts.BAD_DEBT, 0, charge.amount_minor),
    )
    invoice_id = charge.invoice_id
    return ErpDocument(
        "recovery", external_id("recovery", invoice_id), invoice_id, external_id("writeoff", invoice_id),
        charge.entity, charge.currency, charge.amount_minor, 0, charge.created_s, period_of(charge.created_s),
        (), journal,
    )


def invoice_documents(invoice: Invoice, event_s: float) -> tuple[ErpDocument, ...]:
    """Every document an invoice in its current state needs, in posting order. A draft needs none."""
    if invoice.status == "draft" or invoice.finalized_s == 0.0:
        return ()
    documents = [invoice_document(invoice)]
    if invoice.status == "void":
        documents.append(void_document(invoice, event_s))
    elif invoice.status == "uncollectible":
        documents.append(writeoff_document(invoice, event_s))
    return tuple(documents)
