"""Hypothesis walks the ERP fake through random sequences of valid and invalid requests.

After every step it checks the ERP's safety properties: every book balances, no payment is applied
beyond an invoice's total, at most one document per external id, nothing lands in a closed period,
the concurrency cap holds, and the trace tells the same story as the state.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from rehearse.fakes.erp import CLOSED_TRAN_PRD, DUP_RCRD, Erp, ErpResponse
from rehearse.sync.model import ErpDocument, InvoiceLine, JournalLine

ENTITIES = {"US01": "USD", "EU01": "EUR"}
CONCURRENCY_LIMIT = 3
# Small id pools so that duplicates, unknown references and repeated moves on one invoice are common.
CUSTOMER_IDS = ("cus_a", "cus_b", "")
INVOICE_IDS = ("in_a", "in_b", "in_c", "")
PAYMENT_IDS = ("ch_a", "ch_b", "ch_c", "")
PERIODS = ("2024-01", "2024-02", "2024-03")
CLOSABLE_PERIODS = PERIODS[:2]  # the last period stays open, so late moves can still succeed
SERVICE_START_S = 1_704_067_200.0
SERVICE_END_S = 1_706_745_600.0

amounts_minor = st.integers(min_value=0, max_value=5_000)
# How long before "now" a request started; None (no lock check) most of the time.
started_lags_s = st.sampled_from([None, None, None, 0.0, 0.5, 2.5])
mostly_consistent = st.sampled_from([True, True, True, False])  # same books as the parent?


class TraceRecorder:
    """A trace that keeps every record as (t_s, kind, fields)."""

    def __init__(self) -> None:
        self.records: list[tuple[float, str, dict[str, Any]]] = []

    def emit(self, t_s: float, kind: str, **fields: Any) -> None:
        self.records.append((t_s, kind, fields))


def pick_key(data: st.DataObject, records: Any, missing_key: str) -> str:
    """An existing record's key four times in five, else a key that exists nowhere."""
    if records and data.draw(st.integers(min_value=0, max_value=4)):
        return data.draw(st.sampled_from(sorted(records)))
    return missing_key


def transfer(debit_account: str, credit_account: str, amount_minor: int) -> tuple[JournalLine, ...]:
    return (JournalLine(debit_account, amount_minor, 0), JournalLine(credit_account, 0, amount_minor))


class ErpMachine(RuleBasedStateMachine):
    """Drives one `Erp`; `closed` and `created` are the test's own record of what should hold."""

    def __init__(self) -> None:
        super().__init__()
        self.trace = TraceRecorder()
        self.erp = Erp(entities=ENTITIES, concurrency_limit=CONCURRENCY_LIMIT, trace=self.trace)
        self.now_s = 0.0
        self.closed: set[tuple[str, str]] = set()
        self.created: Counter[tuple[str, str]] = Counter()
        self.in_flight = 0

    # -- helpers ------------------------------------------------------------------------------

    def is_closed(self, entity: str, period: str) -> bool:
        return (entity, period) in self.closed or ("*", period) in self.closed

    def post(self, document: ErpDocument, started_lag_s: float | None = None) -> ErpResponse:
        """Post at the next instant and check what any answer must satisfy."""
        self.now_s += 1.0
        started_s = None if started_lag_s is None else self.now_s - started_lag_s
        was_closed = self.is_closed(document.entity, document.posting_period)
        count_before = self.erp.documents_count()
        records_before = len(self.trace.records)
        response = self.erp.post(document, self.now_s, started_s)
        new_records = self.trace.records[records_before:]
        if response.status == 201:
            assert document.doc_type == "customer" or not was_closed, "created in a closed period"
            if document.external_id:
                self.created[(document.doc_type, document.external_id)] += 1
            assert self.erp.documents_count() == count_before + 1
            assert int(response.internal_id) == 1000 + self.erp.documents_count()
            _, kind, fields = new_records[0]
            assert kind == "erp.document"
            assert (fields["object_id"], fields["ref_id"], fields["code"]) == (
                response.internal_id, document.source_id, document.doc_type)
            assert fields["debit_minor"] == fields["credit_minor"]
            assert fields["period"] == document.posting_period
            self.check_payment_records(document, response, new_records[1:])
        else:
            assert self.erp.documents_count() == count_before
            assert new_records == []
            assert (response.status == 200) == (response.code == "")
            if response.code == CLOSED_TRAN_PRD:
                assert was_closed
            if response.code == DUP_RCRD:
                assert self.created[(document.doc_type, document.external_id)] == 1
        return response

    def check_payment_records(
        self, document: ErpDocument, response: ErpResponse, records: list[tuple[float, str, dict[str, Any]]]
    ) -> None:
        if document.doc_type != "payment":
            assert records == []
            return
        payment = self.erp.payments[document.external_id or response.internal_id]
        kinds = [kind for _, kind, _ in records]
        assert kinds == ["erp.payment_applied"] + (["erp.payment_unapplied"] if payment.unapplied_minor else [])
        assert records[0][2]["amount_minor"] == payment.applied_minor
        if payment.unapplied_minor:
            assert records[1][2]["amount_minor"] == payment.unapplied_minor

    def customer_key(self, data: st.DataObject) -> str:
        return pick_key(data, self.erp.customers, "cus_missing")

    def invoice_key(self, data: st.DataObject) -> str:
        return pick_key(data, self.erp.invoices, "in_missing")

    def books_of(self, parent: Any, consistent: bool, data: st.DataObject) -> tuple[str, str]:
        if consistent and parent is not None:
            return parent.entity, parent.currency
        return data.draw(st.sampled_from(sorted(ENTITIES))), data.draw(st.sampled_from(["USD", "EUR"]))

    # -- rules --------------------------------------------------------------------------------

    @initialize()
    def preload_customers(self) -> None:
        for entity, currency in sorted(ENTITIES.items()):
            document = ErpDocument(
                "customer", f"cus_{entity}", f"cus_{entity}", "", entity, currency, 0, 0, 0.0, "2024-01", (), ()
            )
            self.erp.preload_customer(document)
        assert self.trace.records == []

    @rule(
        external_id=st.sampled_from(CUSTOMER_IDS),
        entity=st.sampled_from(["US01", "EU01", "XX99"]),
        currency=st.sampled_from(["USD", "EUR"]),
    )
    def post_customer(self, external_id: str, entity: str, currency: str) -> None:
        existing = self.erp.customers.get(external_id) if external_id else None
        document = ErpDocument(
            "customer", external_id, external_id or "cus_x", "", entity, currency, 0, 0, self.now_s, "2024-01",
            (), (),
        )
        response = self.post(document)
        if entity in ENTITIES and (existing is None or (existing.entity, existing.currency) == (entity, currency)):
            assert response.status == (200 if existing else 201)
        elif existing is not None:
            assert response.status == 400  # a customer's subsidiary and currency never change

    @rule(
        data=st.data(),
        external_id=st.sampled_from(INVOICE_IDS),
        line_amounts_minor=st.lists(amounts_minor, min_size=1, max_size=3),
        tax_minor=st.integers(min_value=0, max_value=500),
        period=st.sampled_from(PERIODS),
        consistent=mostly_consistent,
        corruption=st.sampled_from(["none", "none", "unbalanced", "total"]),
    )
    def post_invoice(
        self, data: st.DataObject, external_id: str, line_amounts_minor: list[int], tax_minor: int, period: str,
        consistent: bool, corruption: str,
    ) -> None:
        customer_id = self.customer_key(data)
        customer = self.erp.customers.get(customer_id)
        entity, currency = self.books_of(customer, consistent, data)
        lines = tuple(
            InvoiceLine("line", "subscription", amount, tax_minor if i == 0 else 0, SERVICE_START_S, SERVICE_END_S)
            for i, amount in enumerate(line_amounts_minor)
        )
        total_minor = sum(line_amounts_minor) + tax_minor
        journal = (
            JournalLine("ar", total_minor, 0),
            *(JournalLine("deferred", 0, amount) for amount in line_amounts_minor),
            JournalLine("tax", 0, tax_minor + (corruption == "unbalanced")),
        )
        document = ErpDocument(
            "invoice", external_id, external_id or "in_x", customer_id, entity, currency,
            total_minor + (corruption == "total"), tax_minor, self.now_s, period, lines, journal,
        )
        duplicate = bool(external_id) and external_id in self.erp.invoices
        response = self.post(document)
        if customer is not None and consistent and corruption == "none" and not self.is_closed(entity, period):
            assert response.code == (DUP_RCRD if duplicate else ""), response

    @precondition(lambda self: bool(self.erp.invoices))
    @rule(
        data=st.data(),
        external_id=st.sampled_from(PAYMENT_IDS),
        amount_minor=amounts_minor,
        period=st.sampled_from(PERIODS),
        consistent=mostly_consistent,
        started_lag_s=started_lags_s,
    )
    def post_payment(
        self, data: st.DataObject, external_id: str, amount_minor: int, period: str, consistent: bool,
        started_lag_s: float | None,
    ) -> None:
        invoice_id = self.invoice_key(data)
        invoice = self.erp.invoices.get(invoice_id)
        open_before_minor = invoice.open_minor if invoice is not None else 0
        entity, currency = self.books_of(invoice, consistent, data)
        document = ErpDocument(
            "payment", external_id, external_id or "ch_x", invoice_id, entity, currency, amount_minor, 0,
            self.now_s, period, (), transfer("clearing", "ar", amount_minor),
        )
        duplicate = bool(external_id) and external_id in self.erp.payments
        response = self.post(document, started_lag_s)
        if response.status == 201:
            payment = self.erp.payments[external_id or response.internal_id]
            assert payment.applied_minor == min(amount_minor, open_before_minor)
        if invoice is not None and consistent and started_lag_s is None and not self.is_closed(entity, period):
            assert response.code == (DUP_RCRD if duplicate else ""), response

    @precondition(lambda self: bool(self.erp.invoices))
    @rule(data=st.data(), period=st.sampled_from(PERIODS), started_lag_s=started_lags_s)
    def post_void(self, data: st.DataObject, period: str, started_lag_s: float | None) -> None:
        invoice_id = self.invoice_key(data)
        invoice = self.erp.invoices.get(invoice_id)
        entity, currency = self.books_of(invoice, True, data)
        amount_minor = invoice.amount_minor if invoice is not None else 0
        document = ErpDocument(
            "void", f"{invoice_id}:void", invoice_id, invoice_id, entity, currency, amount_minor, 0, self.now_s,
            period, (), transfer("deferred", "ar", amount_minor),
        )
        if self.post(document, started_lag_s).status == 201:
            assert invoice is not None and invoice.status == "void" and invoice.applied_minor == 0

    @precondition(lambda self: bool(self.erp.invoices))
    @rule(
        data=st.data(),
        period=st.sampled_from(PERIODS),
        amount_error_minor=st.sampled_from([0, 0, 0, 1]),
        started_lag_s=started_lags_s,
    )
    def post_writeoff(
        self, data: st.DataObject, period: str, amount_error_minor: int, started_lag_s: float | None
    ) -> None:
        invoice_id = self.invoice_key(data)
        invoice = self.erp.invoices.get(invoice_id)
        entity, currency = self.books_of(invoice, True, data)
        amount_minor = (invoice.open_minor if invoice is not None else 0) + amount_error_minor
        document = ErpDocument(
            "writeoff", f"{invoice_id}:writeoff", invoice_id, invoice_id, entity, currency, amount_minor, 0,
            self.now_s, period, (), transfer("bad_debt", "ar", amount_minor),
        )
        response = self.post(document, started_lag_s)
        if response.status == 201:
            assert amount_error_minor == 0 and invoice is not None and invoice.status == "written_off"

    @rule(entity=st.sampled_from(["US01", "EU01", "*"]), period=st.sampled_from(CLOSABLE_PERIODS))
    def close_period(self, entity: str, period: str) -> None:
        self.now_s += 1.0
        records_before = len(self.trace.records)
        self.erp.close_period(entity, period, self.now_s)
        newly_closed = (entity, period) not in self.closed
        self.closed.add((entity, period))
        assert len(self.trace.records) == records_before + newly_closed
        assert self.erp.is_closed(entity, period)

    @rule()
    def begin_request(self) -> None:
        response = self.erp.begin_request()
        if self.in_flight >= CONCURRENCY_LIMIT:
            assert response is not None and response.status == 429
        else:
            assert response is None
            self.in_flight += 1

    @precondition(lambda self: self.in_flight > 0)
    @rule()
    def end_request(self) -> None:
        self.erp.end_request()
        self.in_flight -= 1

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def every_book_balances(self) -> None:
        totals_minor: Counter[tuple[str, str]] = Counter()
        for (entity, currency, _), balance_minor in self.erp.gl_balances().items():
            totals_minor[(entity, currency)] += balance_minor
        assert all(total == 0 for total in totals_minor.values()), totals_minor

    @invariant()
    def payments_never_exceed_what_is_owed(self) -> None:
        applied_by_invoice_minor: Counter[str] = Counter()
        for payment in self.erp.payments.values():
            assert payment.applied_minor >= 0 and payment.unapplied_minor >= 0
            assert payment.applied_minor + payment.unapplied_minor == payment.amount_minor
            applied_by_invoice_minor[payment.document.parent_id] += payment.applied_minor
        for key, invoice in self.erp.invoices.items():
            assert applied_by_invoice_minor[key] == invoice.applied_minor
            assert 0 <= invoice.applied_minor <= invoice.amount_minor
            if invoice.status in ("open", "paid"):
                assert invoice.open_minor == invoice.amount_minor - invoice.applied_minor
            else:
                assert invoice.open_minor == 0
            assert (invoice.status == "paid") <= (invoice.open_minor == 0)

    @invariant()
    def one_document_per_external_id(self) -> None:
        assert all(count == 1 for count in self.created.values()), self.created

    @invariant()
    def concurrency_cap_holds(self) -> None:
        assert self.erp.in_flight == self.in_flight <= CONCURRENCY_LIMIT


ErpMachine.TestCase.settings = settings(
    max_examples=100,  # under 3 s: enough to reach paid, void and written-off invoices many times
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestErpStateMachine = ErpMachine.TestCase
