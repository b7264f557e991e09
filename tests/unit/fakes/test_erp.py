"""Unit tests of the ERP fake: every success path and every error code of `Erp`."""

from __future__ import annotations

from typing import Any

import pytest

import rehearse.fakes.erp as erp_package
from rehearse.fakes.erp import (
    CLOSED_TRAN_PRD,
    DUP_RCRD,
    INVALID_FLD_VALUE,
    INVALID_KEY_OR_REF,
    INVALID_TRANS_AMT,
    INVOICE,
    RCRD_DSNT_EXIST,
    RCRD_HAS_BEEN_CHANGED,
    SSS_REQUEST_LIMIT_EXCEEDED,
    Erp,
    ErpResponse,
)
from rehearse.fakes.machine import IllegalTransition
from rehearse.sync.model import ErpDocument, InvoiceLine, JournalLine

AR = "1100 Accounts Receivable"
CLEARING = "1190 Undeposited Funds"
DEFERRED = "2400 Deferred Revenue"
TAX = "2300 Sales Tax Payable"
BAD_DEBT = "6900 Bad Debt Expense"
JAN_S = 1_704_067_200.0  # 2024-01-01T00:00:00Z
FEB_S = 1_706_745_600.0  # 2024-02-01T00:00:00Z


class TraceRecorder:
    """A trace that keeps every record as (t_s, kind, fields)."""

    def __init__(self) -> None:
        self.records: list[tuple[float, str, dict[str, Any]]] = []

    def emit(self, t_s: float, kind: str, **fields: Any) -> None:
        self.records.append((t_s, kind, fields))

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [fields for _, record_kind, fields in self.records if record_kind == kind]


def customer(external_id: str = "cus_1", entity: str = "US01", currency: str = "USD", **changes: Any) -> ErpDocument:
    document = ErpDocument(
        "customer", external_id, external_id or "cus_x", "", entity, currency, 0, 0, JAN_S, "2024-01", (), (), "Acme"
    )
    return document._replace(**changes)


def invoice(
    external_id: str = "in_1",
    customer_id: str = "cus_1",
    amounts_minor: tuple[int, ...] = (1000,),
    tax_minor: int = 100,
    entity: str = "US01",
    currency: str = "USD",
    period: str = "2024-01",
    **changes: Any,
) -> ErpDocument:
    """An invoice whose tax sits on its first line and whose journal balances."""
    lines = tuple(
        InvoiceLine(f"line {i}", "subscription", amount, tax_minor if i == 0 else 0, JAN_S, FEB_S)
        for i, amount in enumerate(amounts_minor)
    )
    total_minor = sum(amounts_minor) + tax_minor
    journal = (
        JournalLine(AR, total_minor, 0),
        *(JournalLine(DEFERRED, 0, amount) for amount in amounts_minor),
        JournalLine(TAX, 0, tax_minor),
    )
    document = ErpDocument(
        "invoice", external_id, external_id or "in_x", customer_id, entity, currency, total_minor, tax_minor,
        JAN_S, period, lines, journal,
    )
    return document._replace(**changes)


def payment(
    external_id: str = "ch_1", invoice_id: str = "in_1", amount_minor: int = 1100, entity: str = "US01",
    currency: str = "USD", period: str = "2024-01", **changes: Any,
) -> ErpDocument:
    journal = (JournalLine(CLEARING, amount_minor, 0), JournalLine(AR, 0, amount_minor))
    document = ErpDocument(
        "payment", external_id, external_id or "ch_x", invoice_id, entity, currency, amount_minor, 0, JAN_S,
        period, (), journal,
    )
    return document._replace(**changes)


def void(invoice_id: str = "in_1", amount_minor: int = 1100, period: str = "2024-01", **changes: Any) -> ErpDocument:
    journal = (JournalLine(DEFERRED, amount_minor, 0), JournalLine(AR, 0, amount_minor))
    document = ErpDocument(
        "void", f"{invoice_id}:void", invoice_id, invoice_id, "US01", "USD", amount_minor, 0, JAN_S, period, (),
        journal,
    )
    return document._replace(**changes)


def writeoff(
    invoice_id: str = "in_1", amount_minor: int = 1100, period: str = "2024-01", **changes: Any
) -> ErpDocument:
    journal = (JournalLine(BAD_DEBT, amount_minor, 0), JournalLine(AR, 0, amount_minor))
    document = ErpDocument(
        "writeoff", f"{invoice_id}:writeoff", invoice_id, invoice_id, "US01", "USD", amount_minor, 0, JAN_S,
        period, (), journal,
    )
    return document._replace(**changes)


def reversal(
    charge_id: str = "ch_1", amount_minor: int = 1100, period: str = "2024-01", **changes: Any
) -> ErpDocument:
    journal = (JournalLine(AR, amount_minor, 0), JournalLine(CLEARING, 0, amount_minor))
    document = ErpDocument(
        "reversal", f"{charge_id}:reversal", charge_id, charge_id, "US01", "USD", amount_minor, 0, JAN_S,
        period, (), journal,
    )
    return document._replace(**changes)


def make_erp(concurrency_limit: int = 2) -> tuple[Erp, TraceRecorder]:
    trace = TraceRecorder()
    erp = Erp(entities={"US01": "USD", "EU01": "EUR"}, concurrency_limit=concurrency_limit, trace=trace,
              retry_after_s=2.5)
    return erp, trace


def erp_with_invoice() -> tuple[Erp, TraceRecorder]:
    erp, trace = make_erp()
    assert erp.post(customer(), 1.0).status == 201
    assert erp.post(invoice(), 2.0).status == 201
    return erp, trace


def assert_rejected(response: ErpResponse, status: int, code: str) -> None:
    assert (response.status, response.code, response.internal_id) == (status, code, "")
    assert response.message
    assert not response.ok


# -- package surface --------------------------------------------------------------------------


def test_exported_names_are_pinned() -> None:
    assert sorted(erp_package.__all__) == sorted([
        "CLOSED_TRAN_PRD", "DUP_RCRD", "FIRST_INTERNAL_ID", "INVALID_FLD_VALUE", "INVALID_KEY_OR_REF",
        "INVALID_TRANS_AMT", "INVOICE", "RCRD_DSNT_EXIST", "RCRD_HAS_BEEN_CHANGED",
        "SSS_REQUEST_LIMIT_EXCEEDED", "CustomerRecord", "Erp", "ErpResponse", "InvoiceRecord", "PaymentRecord",
        "PostedDocument",
    ])
    for name in erp_package.__all__:
        assert hasattr(erp_package, name)


def test_concurrency_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Erp(entities={"US01": "USD"}, concurrency_limit=0, trace=TraceRecorder())


# -- concurrency cap --------------------------------------------------------------------------


def test_begin_request_admits_up_to_the_limit_then_answers_429() -> None:
    erp, _ = make_erp(concurrency_limit=2)
    assert erp.begin_request() is None
    assert erp.begin_request() is None
    refused = erp.begin_request()
    assert refused is not None
    assert (refused.status, refused.code, refused.retry_after_s) == (429, SSS_REQUEST_LIMIT_EXCEEDED, 2.5)
    assert erp.in_flight == 2
    erp.end_request()
    assert erp.in_flight == 1
    assert erp.begin_request() is None


def test_end_request_without_a_request_in_flight_is_a_caller_bug() -> None:
    erp, _ = make_erp()
    with pytest.raises(IllegalTransition):
        erp.end_request()


# -- customers --------------------------------------------------------------------------------


def test_customer_create_then_upsert_keeps_the_internal_id_and_traces_once() -> None:
    erp, trace = make_erp()
    created = erp.post(customer(), 10.0)
    assert created == ErpResponse(201, "1001", "", "")
    updated = erp.post(customer(name="Acme Inc"), 11.0)
    assert updated == ErpResponse(200, "1001", "", "")
    assert erp.customers["cus_1"].document.name == "Acme Inc"
    assert erp.customers["cus_1"].modified_s == 11.0
    assert trace.records == [(10.0, "erp.document", {
        "object_id": "1001", "ref_id": "cus_1", "parent_id": "", "entity": "US01", "currency": "USD",
        "amount_minor": 0, "tax_minor": 0, "debit_minor": 0, "credit_minor": 0, "period": "2024-01",
        "code": "customer", "detail": "",
    })]
    assert erp.documents_count() == 1


def test_customer_may_bill_in_a_foreign_currency() -> None:
    erp, _ = make_erp()
    assert erp.post(customer(entity="US01", currency="EUR"), 1.0).status == 201
    assert erp.customers["cus_1"].currency == "EUR"


def test_customer_of_an_unknown_entity_is_refused() -> None:
    erp, trace = make_erp()
    assert_rejected(erp.post(customer(entity="XX99"), 1.0), 400, INVALID_KEY_OR_REF)
    assert trace.records == [] and erp.documents_count() == 0


def test_customer_cannot_change_subsidiary() -> None:
    erp, _ = make_erp()
    erp.post(customer(), 1.0)
    response = erp.post(customer(entity="EU01", currency="EUR"), 2.0)
    assert_rejected(response, 400, INVALID_FLD_VALUE)
    assert "subsidiary" in response.message
    assert erp.customers["cus_1"].entity == "US01"


def test_customer_cannot_change_currency() -> None:
    """Accepted, the next USD invoice met INVALID_KEY_OR_REF, which engines retry as a parent yet to come."""
    erp, _ = make_erp()
    erp.post(customer(currency="USD"), 1.0)
    response = erp.post(customer(currency="EUR"), 2.0)
    assert_rejected(response, 400, INVALID_FLD_VALUE)
    assert "currency" in response.message and erp.customers["cus_1"].currency == "USD"


def test_customer_with_journal_lines_is_refused() -> None:
    erp, _ = make_erp()
    response = erp.post(customer(journal=(JournalLine(AR, 1, 0), JournalLine(CLEARING, 0, 1))), 1.0)
    assert_rejected(response, 400, INVALID_FLD_VALUE)


def test_customer_without_external_id_is_created_every_time() -> None:
    erp, trace = make_erp()
    first = erp.post(customer(""), 1.0)
    second = erp.post(customer(""), 2.0)
    assert (first.internal_id, second.internal_id) == ("1001", "1002")
    assert set(erp.customers) == {"1001", "1002"}
    assert [fields["ref_id"] for fields in trace.of_kind("erp.document")] == ["cus_x", "cus_x"]


# -- invoices ---------------------------------------------------------------------------------


def test_invoice_is_created_open_posts_the_gl_and_traces_service_periods() -> None:
    erp, trace = make_erp()
    erp.post(customer(), 1.0)
    response = erp.post(invoice(amounts_minor=(1000, 500)), 2.0)
    assert response == ErpResponse(201, "1002", "", "")
    record = erp.invoices["in_1"]
    assert (record.status, record.open_minor, record.applied_minor, record.amount_minor) == ("open", 1600, 0, 1600)
    assert erp.gl_balance("US01", "USD", AR) == 1600
    assert erp.gl_balance("US01", "USD", DEFERRED) == -1500
    assert erp.gl_balance("US01", "USD", TAX) == -100
    assert erp.gl_balance("EU01", "EUR", AR) == 0
    assert sum(erp.gl_balances().values()) == 0
    assert trace.records[-1] == (2.0, "erp.document", {
        "object_id": "1002", "ref_id": "in_1", "parent_id": "cus_1", "entity": "US01", "currency": "USD",
        "amount_minor": 1600, "tax_minor": 100, "debit_minor": 1600, "credit_minor": 1600, "period": "2024-01",
        "code": "invoice", "detail": f"{int(JAN_S)}-{int(FEB_S)};{int(JAN_S)}-{int(FEB_S)}",
    })


def test_invoice_with_negative_proration_line_is_accepted() -> None:
    erp, _ = make_erp()
    erp.post(customer(), 1.0)
    document = invoice(amounts_minor=(1000, -400), tax_minor=60)
    journal = (JournalLine(AR, 660, 0), JournalLine(DEFERRED, 0, 1000), JournalLine(DEFERRED, 400, 0),
               JournalLine(TAX, 0, 60))
    assert erp.post(document._replace(journal=journal), 2.0).status == 201
    assert erp.invoices["in_1"].open_minor == 660


def test_duplicate_invoice_external_id_is_refused() -> None:
    erp, trace = erp_with_invoice()
    records_before = len(trace.records)
    assert_rejected(erp.post(invoice(), 3.0), 400, DUP_RCRD)
    assert len(trace.records) == records_before and erp.documents_count() == 2


def test_invoices_without_external_id_are_duplicated() -> None:
    erp, trace = make_erp()
    erp.post(customer(), 1.0)
    first = erp.post(invoice(""), 2.0)
    second = erp.post(invoice(""), 3.0)
    assert (first.status, second.status) == (201, 201)
    assert set(erp.invoices) == {first.internal_id, second.internal_id}
    assert erp.gl_balance("US01", "USD", AR) == 2200
    assert [fields["ref_id"] for fields in trace.of_kind("erp.document")][1:] == ["in_x", "in_x"]


@pytest.mark.parametrize(
    ("document", "code", "words"),
    [
        (invoice(customer_id="cus_missing"), INVALID_KEY_OR_REF, "does not exist"),
        (invoice(entity="EU01"), INVALID_KEY_OR_REF, "subsidiary mismatch"),
        (invoice(currency="EUR"), INVALID_KEY_OR_REF, "currency"),
        (invoice(period="2024-13"), INVALID_FLD_VALUE, "period"),
        (invoice(journal=(JournalLine(AR, 1100, 0), JournalLine(DEFERRED, 0, 1000))), INVALID_TRANS_AMT, "balance"),
        (invoice(journal=(JournalLine(AR, 1100, 1100),)), INVALID_TRANS_AMT, "balance"),
        (invoice(journal=(JournalLine(AR, -5, 0), JournalLine(DEFERRED, 0, -5))), INVALID_TRANS_AMT, "balance"),
        (invoice(amount_minor=1200), INVALID_TRANS_AMT, "total"),
        (invoice()._replace(tax_minor=90, amount_minor=1090), INVALID_TRANS_AMT, "tax"),
    ],
    ids=["unknown-customer", "entity-mismatch", "currency-mismatch", "bad-period", "unbalanced",
         "two-sided-line", "negative-line", "total-mismatch", "tax-mismatch"],
)
def test_invalid_invoice_is_refused_and_changes_nothing(document: ErpDocument, code: str, words: str) -> None:
    erp, trace = make_erp()
    erp.post(customer(), 1.0)
    response = erp.post(document, 2.0)
    assert_rejected(response, 400, code)
    assert words in response.message
    assert len(trace.records) == 1 and erp.documents_count() == 1 and not erp.invoices
    assert erp.gl_balances() == {}


def test_negative_invoice_total_is_refused() -> None:
    erp, _ = make_erp()
    erp.post(customer(), 1.0)
    document = invoice(amounts_minor=(-500,), tax_minor=0, journal=())
    assert_rejected(erp.post(document, 2.0), 400, INVALID_TRANS_AMT)


def test_invoice_into_a_closed_period_is_refused() -> None:
    erp, _ = make_erp()
    erp.post(customer(), 1.0)
    erp.close_period("US01", "2024-01", 1.5)
    assert_rejected(erp.post(invoice(), 2.0), 400, CLOSED_TRAN_PRD)
    assert erp.post(invoice(period="2024-02"), 3.0).status == 201


def test_close_of_all_entities_closes_each() -> None:
    erp, _ = make_erp()
    erp.post(customer(), 1.0)
    erp.close_period("*", "2024-01", 1.5)
    assert erp.is_closed("US01", "2024-01") and erp.is_closed("EU01", "2024-01") and erp.is_closed("*", "2024-01")
    assert not erp.is_closed("US01", "2024-02")
    assert_rejected(erp.post(invoice(), 2.0), 400, CLOSED_TRAN_PRD)


# -- periods ----------------------------------------------------------------------------------


def test_close_period_is_idempotent_and_traced_once() -> None:
    erp, trace = make_erp()
    erp.close_period("US01", "2024-01", 5.0)
    erp.close_period("US01", "2024-01", 6.0)
    assert trace.records == [(5.0, "erp.period_closed", {"entity": "US01", "period": "2024-01"})]
    assert erp.is_closed("US01", "2024-01")
    assert not erp.is_closed("EU01", "2024-01")
    assert not erp.is_closed("*", "2024-01")
    erp.close_period("EU01", "2024-01", 7.0)
    assert erp.is_closed("*", "2024-01")
    assert erp.closed_periods() == [("EU01", "2024-01"), ("US01", "2024-01")]


@pytest.mark.parametrize(("entity", "period"), [("XX99", "2024-01"), ("US01", "2024-1"), ("US01", "2024-00")])
def test_close_period_of_an_unknown_entity_or_malformed_period_raises(entity: str, period: str) -> None:
    erp, _ = make_erp()
    with pytest.raises(ValueError):
        erp.close_period(entity, period, 1.0)


# -- payments ---------------------------------------------------------------------------------


def test_full_payment_marks_the_invoice_paid() -> None:
    erp, trace = erp_with_invoice()
    response = erp.post(payment(), 3.0)
    assert response == ErpResponse(201, "1003", "", "")
    record = erp.invoices["in_1"]
    assert (record.status, record.open_minor, record.applied_minor, record.modified_s) == ("paid", 0, 1100, 3.0)
    paid = erp.payments["ch_1"]
    assert (paid.applied_minor, paid.unapplied_minor, paid.amount_minor) == (1100, 0, 1100)
    assert erp.gl_balance("US01", "USD", AR) == 0
    assert erp.gl_balance("US01", "USD", CLEARING) == 1100
    assert trace.of_kind("erp.payment_applied") == [{
        "object_id": "1003", "ref_id": "ch_1", "parent_id": "in_1", "entity": "US01", "currency": "USD",
        "amount_minor": 1100,
    }]
    assert trace.of_kind("erp.payment_unapplied") == []
    assert [fields["code"] for fields in trace.of_kind("erp.document")] == ["customer", "invoice", "payment"]


def test_partial_payments_keep_the_invoice_open_until_settled() -> None:
    erp, _ = erp_with_invoice()
    assert erp.post(payment("ch_1", amount_minor=400), 3.0).status == 201
    record = erp.invoices["in_1"]
    assert (record.status, record.open_minor, record.applied_minor) == ("open", 700, 400)
    assert erp.post(payment("ch_2", amount_minor=700), 4.0).status == 201
    assert (record.status, record.open_minor, record.applied_minor) == ("paid", 0, 1100)


def test_overpayment_leaves_the_rest_unapplied() -> None:
    erp, trace = erp_with_invoice()
    erp.post(payment("ch_1", amount_minor=1500), 3.0)
    paid = erp.payments["ch_1"]
    assert (paid.applied_minor, paid.unapplied_minor) == (1100, 400)
    assert erp.invoices["in_1"].applied_minor == 1100
    assert [fields["amount_minor"] for fields in trace.of_kind("erp.payment_applied")] == [1100]
    assert trace.of_kind("erp.payment_unapplied") == [{
        "object_id": "1003", "ref_id": "ch_1", "parent_id": "in_1", "entity": "US01", "currency": "USD",
        "amount_minor": 400,
    }]


def test_second_payment_on_a_paid_invoice_is_fully_unapplied() -> None:
    erp, trace = erp_with_invoice()
    erp.post(payment("ch_1"), 3.0)
    assert erp.post(payment("ch_2"), 4.0).status == 201
    assert (erp.payments["ch_2"].applied_minor, erp.payments["ch_2"].unapplied_minor) == (0, 1100)
    assert erp.invoices["in_1"].status == "paid"
    assert [fields["amount_minor"] for fields in trace.of_kind("erp.payment_applied")] == [1100, 0]


def test_payment_on_a_void_invoice_is_accepted_fully_unapplied() -> None:
    erp, trace = erp_with_invoice()
    erp.post(void(), 3.0)
    assert erp.post(payment(), 4.0).status == 201
    assert (erp.payments["ch_1"].applied_minor, erp.payments["ch_1"].unapplied_minor) == (0, 1100)
    record = erp.invoices["in_1"]
    assert (record.status, record.open_minor, record.applied_minor, record.modified_s) == ("void", 0, 0, 3.0)
    assert [fields["amount_minor"] for fields in trace.of_kind("erp.payment_unapplied")] == [1100]


def test_duplicate_payment_is_refused_and_empty_external_id_duplicates() -> None:
    erp, _ = erp_with_invoice()
    erp.post(payment("ch_1", amount_minor=100), 3.0)
    assert_rejected(erp.post(payment("ch_1", amount_minor=100), 4.0), 400, DUP_RCRD)
    assert erp.post(payment("", amount_minor=100), 5.0).status == 201
    assert erp.post(payment("", amount_minor=100), 6.0).status == 201
    assert erp.invoices["in_1"].applied_minor == 300
    assert len(erp.payments) == 3


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (payment(invoice_id="in_missing"), INVALID_KEY_OR_REF),
        (payment(entity="EU01", currency="EUR"), INVALID_KEY_OR_REF),
        (payment(currency="EUR"), INVALID_KEY_OR_REF),
        (payment(period=""), INVALID_FLD_VALUE),
        (payment(journal=(JournalLine(CLEARING, 1100, 0),)), INVALID_TRANS_AMT),
        (payment(amount_minor=-1, journal=()), INVALID_TRANS_AMT),
    ],
    ids=["unknown-invoice", "cross-entity", "currency-mismatch", "bad-period", "unbalanced", "negative"],
)
def test_invalid_payment_is_refused_and_applies_nothing(document: ErpDocument, code: str) -> None:
    erp, trace = erp_with_invoice()
    assert_rejected(erp.post(document, 3.0), 400, code)
    assert erp.invoices["in_1"].open_minor == 1100 and not erp.payments and len(trace.records) == 2


def test_payment_across_entities_is_refused_even_with_a_same_named_customer() -> None:
    erp, _ = erp_with_invoice()
    erp.post(customer("cus_eu", entity="EU01", currency="EUR"), 3.0)
    erp.post(invoice("in_eu", "cus_eu", entity="EU01", currency="EUR"), 4.0)
    response = erp.post(payment(invoice_id="in_eu"), 5.0)
    assert_rejected(response, 400, INVALID_KEY_OR_REF)
    assert "subsidiary mismatch" in response.message


def test_payment_into_a_closed_period_is_refused() -> None:
    erp, _ = erp_with_invoice()
    erp.close_period("US01", "2024-01", 2.5)
    assert_rejected(erp.post(payment(), 3.0), 400, CLOSED_TRAN_PRD)
    assert erp.post(payment(period="2024-02"), 4.0).status == 201


def test_optimistic_lock_refuses_a_payment_that_started_before_the_invoice_changed() -> None:
    erp, trace = erp_with_invoice()
    erp.post(payment("ch_1", amount_minor=100), 10.0)
    records_before = len(trace.records)
    response = erp.post(payment("ch_2", amount_minor=100), 11.0, started_s=9.0)
    assert_rejected(response, 409, RCRD_HAS_BEEN_CHANGED)
    assert erp.invoices["in_1"].applied_minor == 100 and "ch_2" not in erp.payments
    assert len(trace.records) == records_before
    assert erp.post(payment("ch_2", amount_minor=100), 12.0, started_s=10.0).status == 201


# -- voids ------------------------------------------------------------------------------------


def test_void_reverses_the_invoice() -> None:
    erp, trace = erp_with_invoice()
    response = erp.post(void(), 3.0)
    assert response == ErpResponse(201, "1003", "", "")
    record = erp.invoices["in_1"]
    assert (record.status, record.open_minor) == ("void", 0)
    assert erp.voids["in_1:void"].internal_id == "1003"
    assert erp.gl_balance("US01", "USD", AR) == 0
    assert trace.of_kind("erp.document")[-1]["code"] == "void"
    assert trace.of_kind("erp.document")[-1]["parent_id"] == "in_1"


def test_void_of_an_invoice_with_payments_applied_is_refused() -> None:
    erp, _ = erp_with_invoice()
    erp.post(payment(amount_minor=100), 3.0)
    response = erp.post(void(), 4.0)
    assert_rejected(response, 400, INVALID_TRANS_AMT)
    assert "payments applied" in response.message
    assert erp.invoices["in_1"].status == "open"


def test_void_of_a_void_invoice_is_an_illegal_move() -> None:
    erp, _ = erp_with_invoice()
    erp.post(void(), 3.0)
    assert_rejected(erp.post(void(external_id="in_1:void#2"), 4.0), 400, INVALID_FLD_VALUE)
    assert_rejected(erp.post(void(), 5.0), 400, DUP_RCRD)


def test_void_of_a_settled_zero_invoice_is_an_illegal_move() -> None:
    erp, _ = make_erp()
    erp.post(customer(), 1.0)
    erp.post(invoice(amounts_minor=(0,), tax_minor=0), 2.0)
    assert erp.invoices["in_1"].status == "paid"  # settled as it was posted: nothing was owed
    assert_rejected(erp.post(void(amount_minor=0), 4.0), 400, INVALID_FLD_VALUE)


def test_invoice_table_lists_every_legal_move_and_nothing_else() -> None:
    assert INVOICE.table == {
        ("open", "settle"): "paid", ("open", "void"): "void", ("open", "writeoff"): "written_off",
        ("paid", "reopen"): "open", ("written_off", "recovery"): "open",
    }
    assert set(INVOICE.terminal) == {"void"}
    for state in INVOICE.states:
        for action in INVOICE.actions:
            if not INVOICE.allows(state, action):
                with pytest.raises(IllegalTransition):
                    INVOICE.next(state, action)


@pytest.mark.parametrize(
    ("document", "status", "code"),
    [
        (void(invoice_id="in_missing"), 400, INVALID_KEY_OR_REF),
        (void(currency="EUR"), 400, INVALID_KEY_OR_REF),
        (void(journal=(JournalLine(AR, 0, 1100),)), 400, INVALID_TRANS_AMT),
    ],
    ids=["unknown-invoice", "currency-mismatch", "unbalanced"],
)
def test_invalid_void_is_refused(document: ErpDocument, status: int, code: str) -> None:
    erp, _ = erp_with_invoice()
    assert_rejected(erp.post(document, 3.0), status, code)
    assert erp.invoices["in_1"].status == "open" and not erp.voids


def test_void_into_a_closed_period_and_under_a_stale_lock_is_refused() -> None:
    erp, _ = erp_with_invoice()
    erp.close_period("US01", "2024-01", 2.5)
    assert_rejected(erp.post(void(), 3.0), 400, CLOSED_TRAN_PRD)
    assert_rejected(erp.post(void(period="2024-02"), 3.0, started_s=1.0), 409, RCRD_HAS_BEEN_CHANGED)
    assert erp.post(void(period="2024-02"), 3.0, started_s=2.0).status == 201


# -- write-offs -------------------------------------------------------------------------------


def test_writeoff_of_the_open_amount_after_a_partial_payment() -> None:
    erp, trace = erp_with_invoice()
    erp.post(payment(amount_minor=300), 3.0)
    response = erp.post(writeoff(amount_minor=800), 4.0)
    assert response.status == 201
    record = erp.invoices["in_1"]
    assert (record.status, record.open_minor, record.applied_minor) == ("written_off", 0, 300)
    assert erp.writeoffs["in_1:writeoff"].internal_id == response.internal_id
    assert erp.gl_balance("US01", "USD", AR) == 0
    assert erp.gl_balance("US01", "USD", BAD_DEBT) == 800
    assert trace.of_kind("erp.document")[-1]["code"] == "writeoff"


def test_writeoff_of_another_amount_than_the_open_amount_is_refused() -> None:
    erp, _ = erp_with_invoice()
    erp.post(payment(amount_minor=300), 3.0)
    response = erp.post(writeoff(amount_minor=1100), 4.0)
    assert_rejected(response, 400, INVALID_TRANS_AMT)
    assert "open amount 800" in response.message


@pytest.mark.parametrize("first", [payment(), void()], ids=["paid", "void"])
def test_writeoff_of_a_closed_invoice_is_an_illegal_move(first: ErpDocument) -> None:
    erp, _ = erp_with_invoice()
    erp.post(first, 3.0)
    assert_rejected(erp.post(writeoff(amount_minor=0), 4.0), 400, INVALID_FLD_VALUE)


def test_writeoff_duplicate_missing_closed_and_stale_are_refused() -> None:
    erp, _ = erp_with_invoice()
    assert_rejected(erp.post(writeoff(invoice_id="in_missing"), 3.0), 400, INVALID_KEY_OR_REF)
    assert_rejected(erp.post(writeoff(), 3.0, started_s=1.5), 409, RCRD_HAS_BEEN_CHANGED)
    assert erp.post(writeoff(), 3.0, started_s=2.0).status == 201
    assert_rejected(erp.post(writeoff(), 4.0), 400, DUP_RCRD)
    erp.close_period("*", "2024-02", 5.0)
    erp.post(invoice("in_2", period="2024-03"), 6.0)
    assert_rejected(erp.post(writeoff("in_2", period="2024-02"), 7.0), 400, CLOSED_TRAN_PRD)


# -- other requests ---------------------------------------------------------------------------


def test_unknown_document_type_is_refused() -> None:
    erp, trace = make_erp()
    assert_rejected(erp.post(customer()._replace(doc_type="credit_memo"), 1.0), 400, INVALID_FLD_VALUE)
    assert trace.records == []


def test_lookup_finds_by_external_id() -> None:
    erp, _ = erp_with_invoice()
    erp.post(payment(), 3.0)
    assert erp.lookup("invoice", "in_1") == ErpResponse(200, "1002", "", "")
    assert erp.lookup("customer", "cus_1") == ErpResponse(200, "1001", "", "")
    assert erp.lookup("payment", "ch_1") == ErpResponse(200, "1003", "", "")
    assert_rejected(erp.lookup("invoice", "in_missing"), 404, RCRD_DSNT_EXIST)
    assert_rejected(erp.lookup("payment", ""), 404, RCRD_DSNT_EXIST)
    assert_rejected(erp.lookup("void", "in_1:void"), 404, RCRD_DSNT_EXIST)
    assert_rejected(erp.lookup("credit_memo", "in_1"), 400, INVALID_FLD_VALUE)


def test_preload_customer_creates_without_tracing_and_shares_the_id_counter() -> None:
    erp, trace = make_erp()
    assert erp.preload_customer(customer("cus_old")) == "1001"
    assert trace.records == []
    assert erp.post(customer("cus_new"), 1.0).internal_id == "1002"
    assert erp.post(invoice(customer_id="cus_old"), 2.0).status == 201
    assert erp.documents_count() == 3


@pytest.mark.parametrize(
    "document",
    [customer("cus_old", entity="XX99"), invoice(), customer("cus_old")],
    ids=["unknown-entity", "not-a-customer", "already-exists"],
)
def test_preload_customer_raises_on_invalid_input(document: ErpDocument) -> None:
    erp, _ = make_erp()
    erp.preload_customer(customer("cus_old"))
    with pytest.raises(ValueError):
        erp.preload_customer(document)


def test_views_are_read_only() -> None:
    erp, _ = erp_with_invoice()
    with pytest.raises(TypeError):
        erp.invoices["in_2"] = erp.invoices["in_1"]  # type: ignore[index]


# -- payment reversals (returned bank debits) -----------------------------------------------------------


def test_a_reversal_takes_back_what_the_payment_applied_and_reopens_the_invoice() -> None:
    erp, trace = erp_with_invoice()
    erp.post(payment(), 3.0)
    response = erp.post(reversal(), 4.0)
    assert response.status == 201
    record = erp.invoices["in_1"]
    assert (record.status, record.open_minor, record.applied_minor) == ("open", 1100, 0)
    reversed_payment = erp.payments["ch_1"]
    assert (reversed_payment.applied_minor, reversed_payment.unapplied_minor) == (0, 0)
    assert erp.gl_balance("US01", "USD", AR) == 1100 and erp.gl_balance("US01", "USD", CLEARING) == 0
    assert [fields["amount_minor"] for fields in trace.of_kind("erp.payment_applied")] == [1100, -1100]
    assert trace.of_kind("erp.payment_reversed") == [{
        "object_id": "1003", "ref_id": "ch_1", "parent_id": "in_1", "entity": "US01", "currency": "USD",
        "amount_minor": 1100,
    }]
    document = trace.of_kind("erp.document")[-1]
    assert (document["code"], document["ref_id"], document["parent_id"]) == ("reversal", "ch_1", "in_1")
    assert "ch_1:reversal" in erp.reversals
    # Paid again by the next attempt, the invoice settles once more.
    assert erp.post(payment("ch_2"), 5.0).status == 201 and record.status == "paid"


def test_a_reversal_of_an_unapplied_payment_clears_its_unapplied_amount() -> None:
    erp, trace = erp_with_invoice()
    erp.post(payment("ch_1"), 3.0)
    erp.post(payment("ch_2"), 4.0)  # charged twice: the second is all unapplied
    assert erp.post(reversal("ch_2"), 5.0).status == 201
    assert erp.invoices["in_1"].status == "paid"
    assert trace.of_kind("erp.payment_unapplied")[-1]["amount_minor"] == 0


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (reversal("ch_missing"), INVALID_KEY_OR_REF),
        (reversal(currency="EUR"), INVALID_KEY_OR_REF),
        (reversal(amount_minor=1000), INVALID_TRANS_AMT),
        (reversal(journal=(JournalLine(AR, 1100, 0),)), INVALID_TRANS_AMT),
    ],
)
def test_an_invalid_reversal_is_refused_and_changes_nothing(document: ErpDocument, code: str) -> None:
    erp, _ = erp_with_invoice()
    erp.post(payment(), 3.0)
    assert_rejected(erp.post(document, 4.0), 400, code)
    assert erp.invoices["in_1"].status == "paid" and not erp.reversals


def test_a_second_reversal_of_the_same_payment_is_a_duplicate() -> None:
    erp, _ = erp_with_invoice()
    erp.post(payment(), 3.0)
    erp.post(reversal(), 4.0)
    assert_rejected(erp.post(reversal(), 5.0), 400, DUP_RCRD)
    assert erp.lookup("reversal", "ch_1:reversal").status == 200
    assert erp.invoices["in_1"].open_minor == 1100


def test_a_payment_already_reversed_cannot_be_reversed_again_under_another_id() -> None:
    """Without the external id a duplicate check misses it; reversing twice would take the money
    back twice (clearing at -1100, the invoice open for 1100 and AR at 2200)."""
    erp, _ = erp_with_invoice()
    erp.post(payment(), 3.0)
    erp.post(reversal(), 4.0)
    assert_rejected(erp.post(reversal(external_id="other"), 5.0), 400, INVALID_FLD_VALUE)
    assert erp.invoices["in_1"].open_minor == 1100 and len(erp.reversals) == 1


def test_an_invoice_of_nothing_is_paid_in_full_when_posted() -> None:
    erp, _ = make_erp()
    erp.post(customer(), 1.0)
    assert erp.post(invoice(amounts_minor=(0,), tax_minor=0), 2.0).status == 201
    assert erp.invoices["in_1"].status == "paid" and erp.invoices["in_1"].open_minor == 0


# -- recoveries (a written-off invoice paid after all, E7) --------------------------------------------


def recovery(invoice_id: str = "in_1", amount_minor: int = 1100, period: str = "2024-01",
             **changes: Any) -> ErpDocument:
    journal = (JournalLine(AR, amount_minor, 0), JournalLine(BAD_DEBT, 0, amount_minor))
    document = ErpDocument(
        "recovery", f"{invoice_id}:recovery", invoice_id, f"{invoice_id}:writeoff", "US01", "USD", amount_minor,
        0, JAN_S, period, (), journal,
    )
    return document._replace(**changes)


def erp_with_writeoff() -> tuple[Erp, TraceRecorder]:
    erp, trace = erp_with_invoice()
    assert erp.post(writeoff(), 3.0).status == 201
    return erp, trace


def test_a_recovery_reopens_a_written_off_invoice_for_the_payment_that_settles_it() -> None:
    erp, trace = erp_with_writeoff()
    assert erp.post(recovery(), 4.0).status == 201
    record = erp.invoices["in_1"]
    assert (record.status, record.open_minor) == ("open", 1100)
    assert erp.gl_balance("US01", "USD", BAD_DEBT) == 0 and erp.gl_balance("US01", "USD", AR) == 1100
    document = trace.of_kind("erp.document")[-1]
    assert (document["code"], document["ref_id"], document["parent_id"]) == ("recovery", "in_1", "in_1")
    assert erp.lookup("recovery", "in_1:recovery").status == 200
    assert erp.post(payment(), 5.0).status == 201
    assert (record.status, record.applied_minor) == ("paid", 1100)
    assert_rejected(erp.post(recovery(), 6.0), 400, DUP_RCRD)


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (recovery("in_9"), INVALID_KEY_OR_REF),  # no such write-off
        (recovery(currency="EUR"), INVALID_KEY_OR_REF),
        (recovery(amount_minor=1000), INVALID_TRANS_AMT),
        (recovery(journal=(JournalLine(AR, 1100, 0),)), INVALID_TRANS_AMT),
    ],
)
def test_an_invalid_recovery_is_refused_and_changes_nothing(document: ErpDocument, code: str) -> None:
    erp, _ = erp_with_writeoff()
    assert_rejected(erp.post(document, 4.0), 400, code)
    assert erp.invoices["in_1"].status == "written_off" and not erp.recoveries


def test_a_recovery_of_an_invoice_no_longer_written_off_is_refused() -> None:
    """Recovered under another external id, the invoice is open: a second recovery would open it twice."""
    erp, _ = erp_with_writeoff()
    assert erp.post(recovery(), 4.0).status == 201
    assert_rejected(erp.post(recovery(external_id="other"), 5.0), 400, INVALID_FLD_VALUE)
    assert erp.invoices["in_1"].open_minor == 1100
