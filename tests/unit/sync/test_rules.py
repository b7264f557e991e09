"""Unit tests of the posting rules: every document builder, its ids, amounts, dates and journal."""

from __future__ import annotations

from collections import defaultdict

import pytest

from rehearse.sync import accounts
from rehearse.sync.model import (
    Address, Charge, Customer, ErpDocument, Invoice, InvoiceLine, JournalLine, parse_utc, period_of,
)
from rehearse.sync.rules import (
    customer_document,
    external_id,
    invoice_document,
    invoice_documents,
    payment_document,
    void_document,
    writeoff_document,
)

FINALIZED_S = parse_utc("2026-01-31T23:59:59Z")  # the last second of January
PAID_S = parse_utc("2026-02-01T00:00:00Z")
LATER_S = parse_utc("2026-03-15T12:00:00Z")
MONTH_START_S = parse_utc("2026-02-01")
MONTH_END_S = parse_utc("2026-03-01")


def make_customer() -> Customer:
    address = Address("1 Main St", "Springfield", "CA", "90001", "US")
    return Customer("cus_1", "US01", "USD", "Acme", "ap@acme.test", address, parse_utc("2026-01-05T08:00:00Z"))


def make_invoice(
    *, lines: tuple[InvoiceLine, ...] | None = None, status: str = "open", amount_paid_minor: int = 0,
    finalized_s: float = FINALIZED_S,
) -> Invoice:
    if lines is None:
        lines = (InvoiceLine("Pro plan", "subscription", 10_000, 800, MONTH_START_S, MONTH_END_S),)
    subtotal_minor = sum(line.amount_minor for line in lines)
    tax_minor = sum(line.tax_minor for line in lines)
    return Invoice(
        "in_1", "cus_1", "sub_1", "US01", "USD", status, lines, subtotal_minor, tax_minor,
        subtotal_minor + tax_minor, amount_paid_minor, FINALIZED_S - 3600.0, finalized_s,
    )


PRORATED_LINES = (
    InvoiceLine("Unused time on Pro", "proration", -6_000, -480, MONTH_START_S, MONTH_END_S),
    InvoiceLine("Remaining time on Basic", "proration", 2_000, 160, MONTH_START_S, MONTH_END_S),
    InvoiceLine("Basic plan", "subscription", 3_000, 240, MONTH_START_S, MONTH_END_S),
)  # subtotal -1 000, tax -80: a credit invoice


def make_charge(amount_minor: int = 10_800) -> Charge:
    return Charge("ch_1", "in_1", "cus_1", "US01", "USD", amount_minor, "succeeded", "", PAID_S)


def debits_minor(document: ErpDocument) -> int:
    return sum(line.debit_minor for line in document.journal)


def credits_minor(document: ErpDocument) -> int:
    return sum(line.credit_minor for line in document.journal)


def net_by_account(journal: tuple[JournalLine, ...]) -> dict[str, int]:
    net: dict[str, int] = defaultdict(int)
    for line in journal:
        net[line.account] += line.debit_minor - line.credit_minor
    return dict(net)


def assert_well_formed(document: ErpDocument) -> None:
    """Every line one-sided and non-negative, debits equal to credits."""
    for line in document.journal:
        assert line.debit_minor >= 0 and line.credit_minor >= 0
        assert not (line.debit_minor and line.credit_minor)
    assert debits_minor(document) == credits_minor(document)


# -- external ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize("doc_type", ["customer", "invoice", "payment"])
def test_external_id_of_a_primary_document_is_its_source_id(doc_type: str) -> None:
    assert external_id(doc_type, "obj_1") == "obj_1"


@pytest.mark.parametrize("doc_type", ["void", "writeoff"])
def test_external_id_of_a_derived_document_is_suffixed(doc_type: str) -> None:
    assert external_id(doc_type, "in_1") == f"in_1:{doc_type}"


# -- customer -------------------------------------------------------------------------------------


def test_customer_document_carries_entity_currency_and_name_and_no_journal() -> None:
    customer = make_customer()
    document = customer_document(customer)
    assert (document.doc_type, document.external_id, document.source_id, document.parent_id) == (
        "customer", "cus_1", "cus_1", "")
    assert (document.entity, document.currency, document.name) == ("US01", "USD", "Acme")
    assert (document.amount_minor, document.tax_minor, document.journal, document.lines) == (0, 0, (), ())
    assert document.tran_date_s == customer.created_s
    assert document.posting_period == ""  # master data: booked in no period


# -- invoice --------------------------------------------------------------------------------------


def test_invoice_document_ids_amounts_and_parent_customer() -> None:
    invoice = make_invoice()
    document = invoice_document(invoice)
    assert (document.doc_type, document.external_id, document.source_id, document.parent_id) == (
        "invoice", "in_1", "in_1", "cus_1")
    assert (document.entity, document.currency) == ("US01", "USD")
    assert (document.amount_minor, document.tax_minor) == (10_800, 800)
    assert document.lines == invoice.lines


def test_invoice_is_dated_and_posted_in_the_period_of_finalization() -> None:
    document = invoice_document(make_invoice())
    assert document.tran_date_s == FINALIZED_S
    assert document.posting_period == period_of(FINALIZED_S) == "2026-01"  # service starts in February


def test_invoice_journal_debits_ar_and_credits_deferred_revenue_and_tax() -> None:
    document = invoice_document(make_invoice())
    assert document.journal == (
        JournalLine(accounts.ACCOUNTS_RECEIVABLE, 10_800, 0),
        JournalLine(accounts.DEFERRED_REVENUE, 0, 10_000),
        JournalLine(accounts.TAX_PAYABLE, 0, 800),
    )
    assert_well_formed(document)


def test_invoice_journal_has_one_deferred_revenue_line_per_invoice_line() -> None:
    lines = (
        InvoiceLine("Seats", "subscription", 5_000, 400, MONTH_START_S, MONTH_END_S),
        InvoiceLine("Add-on", "subscription", 1_500, 120, MONTH_START_S, MONTH_END_S),
    )
    document = invoice_document(make_invoice(lines=lines))
    deferred = [line for line in document.journal if line.account == accounts.DEFERRED_REVENUE]
    assert [line.credit_minor for line in deferred] == [5_000, 1_500]
    assert_well_formed(document)


def test_a_line_for_a_period_already_over_credits_revenue_not_deferred_revenue() -> None:
    """DOMAIN.md section 7: revenue for past periods. A proration of last month billed with this
    month's renewal has nothing left to defer; a line ending exactly at finalization is over too."""
    lines = (
        InvoiceLine("Remaining time on Pro", "proration", 1_000, 80, MONTH_START_S - 86400.0 * 14, MONTH_START_S),
        InvoiceLine("Unused time on Basic", "proration", -400, -32, MONTH_START_S - 86400.0 * 14, MONTH_START_S),
        InvoiceLine("Pro plan", "subscription", 10_000, 800, MONTH_START_S, MONTH_END_S),
    )
    document = invoice_document(make_invoice(lines=lines, finalized_s=MONTH_START_S))
    assert document.journal[1:4] == (
        JournalLine(accounts.REVENUE, 0, 1_000),
        JournalLine(accounts.REVENUE, 400, 0),
        JournalLine(accounts.DEFERRED_REVENUE, 0, 10_000),
    )
    assert_well_formed(document)


def test_negative_proration_line_debits_deferred_revenue_and_the_journal_balances() -> None:
    lines = (
        InvoiceLine("Unused time on Basic", "proration", -2_000, -160, MONTH_START_S, MONTH_END_S),
        InvoiceLine("Remaining time on Pro", "proration", 6_000, 480, MONTH_START_S, MONTH_END_S),
    )
    document = invoice_document(make_invoice(lines=lines))
    assert JournalLine(accounts.DEFERRED_REVENUE, 2_000, 0) in document.journal
    assert JournalLine(accounts.DEFERRED_REVENUE, 0, 6_000) in document.journal
    assert JournalLine(accounts.TAX_PAYABLE, 0, 320) in document.journal
    assert_well_formed(document)


def test_negative_tax_debits_tax_payable_and_the_journal_balances() -> None:
    lines = (
        InvoiceLine("Unused time on Pro (taxed)", "proration", -6_000, -480, MONTH_START_S, MONTH_END_S),
        InvoiceLine("Remaining time on Nonprofit (exempt)", "proration", 7_000, 0, MONTH_START_S, MONTH_END_S),
    )
    document = invoice_document(make_invoice(lines=lines))
    assert (document.amount_minor, document.tax_minor) == (520, -480)
    assert JournalLine(accounts.ACCOUNTS_RECEIVABLE, 520, 0) in document.journal
    assert JournalLine(accounts.TAX_PAYABLE, 480, 0) in document.journal
    assert_well_formed(document)


def test_negative_total_credits_ar_and_the_journal_balances() -> None:
    document = invoice_document(make_invoice(lines=PRORATED_LINES))
    assert (document.amount_minor, document.tax_minor) == (-1_080, -80)
    assert document.journal[0] == JournalLine(accounts.ACCOUNTS_RECEIVABLE, 0, 1_080)
    assert JournalLine(accounts.TAX_PAYABLE, 80, 0) in document.journal
    assert_well_formed(document)


def test_zero_invoice_posts_zero_lines_that_balance() -> None:
    lines = (InvoiceLine("Free tier", "subscription", 0, 0, MONTH_START_S, MONTH_END_S),)
    document = invoice_document(make_invoice(lines=lines))
    assert debits_minor(document) == credits_minor(document) == 0
    assert_well_formed(document)


# -- payment --------------------------------------------------------------------------------------


def test_payment_document_applies_the_charge_to_its_invoice() -> None:
    document = payment_document(make_charge())
    assert (document.doc_type, document.external_id, document.source_id, document.parent_id) == (
        "payment", "ch_1", "ch_1", "in_1")
    assert (document.entity, document.currency, document.amount_minor, document.tax_minor) == (
        "US01", "USD", 10_800, 0)
    assert document.tran_date_s == PAID_S
    assert document.posting_period == "2026-02"


def test_payment_journal_debits_clearing_and_credits_ar() -> None:
    document = payment_document(make_charge(10_800))
    assert document.journal == (
        JournalLine(accounts.CLEARING, 10_800, 0),
        JournalLine(accounts.ACCOUNTS_RECEIVABLE, 0, 10_800),
    )
    assert_well_formed(document)


# -- void -----------------------------------------------------------------------------------------


def test_void_document_ids_amounts_and_date() -> None:
    invoice = make_invoice(status="void")
    document = void_document(invoice, LATER_S)
    assert (document.doc_type, document.external_id, document.source_id, document.parent_id) == (
        "void", "in_1:void", "in_1", "in_1")
    assert (document.amount_minor, document.tax_minor) == (invoice.total_minor, invoice.tax_minor)
    assert document.tran_date_s == LATER_S
    assert document.posting_period == "2026-03"


@pytest.mark.parametrize("lines", [None, PRORATED_LINES], ids=["plain", "prorated-credit"])
def test_void_reverses_the_invoice_journal_exactly(lines) -> None:
    invoice = make_invoice(lines=lines, status="void")
    original = invoice_document(invoice)
    void = void_document(invoice, LATER_S)
    assert_well_formed(void)
    assert [(line.account, line.debit_minor, line.credit_minor) for line in void.journal] == [
        (line.account, line.credit_minor, line.debit_minor) for line in original.journal]
    combined = net_by_account(original.journal + void.journal)
    assert set(combined.values()) == {0}


# -- write-off ------------------------------------------------------------------------------------


def test_writeoff_of_an_unpaid_invoice_writes_off_the_total() -> None:
    invoice = make_invoice(status="uncollectible")
    document = writeoff_document(invoice, LATER_S)
    assert (document.doc_type, document.external_id, document.source_id, document.parent_id) == (
        "writeoff", "in_1:writeoff", "in_1", "in_1")
    assert (document.amount_minor, document.tax_minor) == (10_800, 0)
    assert document.journal == (
        JournalLine(accounts.BAD_DEBT, 10_800, 0),
        JournalLine(accounts.ACCOUNTS_RECEIVABLE, 0, 10_800),
    )
    assert document.tran_date_s == LATER_S
    assert document.posting_period == "2026-03"


def test_writeoff_of_a_partly_paid_invoice_writes_off_only_what_is_still_owed() -> None:
    invoice = make_invoice(status="uncollectible", amount_paid_minor=4_000)
    document = writeoff_document(invoice, LATER_S)
    assert document.amount_minor == 6_800
    assert document.journal == (
        JournalLine(accounts.BAD_DEBT, 6_800, 0),
        JournalLine(accounts.ACCOUNTS_RECEIVABLE, 0, 6_800),
    )
    assert_well_formed(document)


def test_invoice_payment_and_writeoff_clear_receivables() -> None:
    invoice = make_invoice(status="uncollectible", amount_paid_minor=4_000)
    journal = (invoice_document(invoice).journal + payment_document(make_charge(4_000)).journal
               + writeoff_document(invoice, LATER_S).journal)
    assert net_by_account(journal)[accounts.ACCOUNTS_RECEIVABLE] == 0


# -- invoice_documents: what each invoice state needs --------------------------------------------


def test_a_draft_needs_nothing() -> None:
    assert invoice_documents(make_invoice(status="draft", finalized_s=0.0), LATER_S) == ()


def test_an_invoice_never_finalized_needs_nothing_whatever_its_status() -> None:
    assert invoice_documents(make_invoice(status="void", finalized_s=0.0), LATER_S) == ()


@pytest.mark.parametrize("status", ["open", "paid"])
def test_open_and_paid_invoices_need_only_the_invoice(status: str) -> None:
    invoice = make_invoice(status=status)
    assert invoice_documents(invoice, LATER_S) == (invoice_document(invoice),)


def test_a_void_invoice_needs_the_invoice_then_its_void() -> None:
    invoice = make_invoice(status="void")
    assert invoice_documents(invoice, LATER_S) == (invoice_document(invoice), void_document(invoice, LATER_S))


def test_an_uncollectible_invoice_needs_the_invoice_then_its_writeoff() -> None:
    invoice = make_invoice(status="uncollectible")
    assert invoice_documents(invoice, LATER_S) == (
        invoice_document(invoice), writeoff_document(invoice, LATER_S))


def test_the_invoice_keeps_its_finalization_date_when_planned_from_a_later_event() -> None:
    invoice_doc, void_doc = invoice_documents(make_invoice(status="void"), LATER_S)
    assert (invoice_doc.tran_date_s, invoice_doc.posting_period) == (FINALIZED_S, "2026-01")
    assert (void_doc.tran_date_s, void_doc.posting_period) == (LATER_S, "2026-03")


def test_a_reversal_swaps_its_payments_journal_and_is_dated_at_the_return() -> None:
    from rehearse.sync.rules import payment_document, reversal_document

    returned = Charge("ch_9", "in_9", "cus_9", "EU01", "EUR", 4_200, "reversed", "R01", 1_769_904_000.0,
                      "ach_debit", 1_770_249_600.0)  # booked 2026-02-01, returned 2026-02-05
    payment, reversal = payment_document(returned), reversal_document(returned)
    assert (reversal.doc_type, reversal.external_id, reversal.source_id, reversal.parent_id) == (
        "reversal", "ch_9:reversal", "ch_9", "ch_9")
    assert sorted(reversal.journal) == sorted(JournalLine(line.account, line.credit_minor, line.debit_minor)
                                              for line in payment.journal)
    assert (reversal.amount_minor, reversal.currency, reversal.posting_period) == (4_200, "EUR", "2026-02")
    assert reversal.tran_date_s == 1_770_249_600.0
