"""The ERP fake, modelled on NetSuite: a pure state machine over `ErpDocument` posts.

No I/O, no clock (callers pass ``now_s``), no randomness. The simulation calls `Erp` directly;
an HTTP app can wrap it. Answers are `ErpResponse` values, never exceptions.

Checks on a transaction run in this order, so that a retried document meets the same answer:
duplicate external id (DUP_RCRD) -> reference to the parent record (INVALID_KEY_OR_REF) -> same
subsidiary and currency as the parent (INVALID_KEY_OR_REF) -> posting period open (CLOSED_TRAN_PRD)
-> journal balanced and amounts consistent (INVALID_TRANS_AMT) -> optimistic lock
(RCRD_HAS_BEEN_CHANGED) -> the invoice's state allows the move: a void needs no payment applied
(INVALID_TRANS_AMT), the status table `state.INVOICE` must list it (INVALID_FLD_VALUE), a write-off
must be of exactly the open amount (INVALID_TRANS_AMT). A reversal and a recovery name their parent
payment or write-off and must equal it (INVALID_TRANS_AMT).

Records are keyed by external id; a document posted without one is keyed by its internal id, so
external ids are expected never to be bare integers like "1001".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, cast

from rehearse.fakes.erp.journal import GeneralLedger, balanced_total_minor
from rehearse.fakes.erp.periods import PeriodBook, is_period_name
from rehearse.fakes.erp.responses import (
    CLOSED_TRAN_PRD,
    DUP_RCRD,
    INVALID_FLD_VALUE,
    INVALID_KEY_OR_REF,
    INVALID_TRANS_AMT,
    RCRD_DSNT_EXIST,
    RCRD_HAS_BEEN_CHANGED,
    SSS_REQUEST_LIMIT_EXCEEDED,
    ErpResponse,
    rejected,
)
from rehearse.fakes.erp.state import (
    INVOICE,
    OPEN,
    PAID,
    CustomerRecord,
    InvoiceRecord,
    PaymentRecord,
    PostedDocument,
)
from rehearse.fakes.machine import IllegalTransition
from rehearse.sync.model import ErpDocument
from rehearse.sync.ports import Trace

FIRST_INTERNAL_ID = 1001  # NetSuite-like: internal ids are small sequential integers


class Erp:
    """A NetSuite-like ERP account: customers, AR invoices, payments, voids, write-offs, GL.

    Parameters
    ----------
    entities
        Legal entity id -> functional currency, e.g. ``{"US01": "USD", "EU01": "EUR"}``.
    concurrency_limit
        Account-wide number of requests in flight at once (5 on NetSuite's shared tier).
    trace
        Receives ``erp.document``, ``erp.payment_applied``, ``erp.payment_unapplied``,
        ``erp.payment_reversed`` and ``erp.period_closed`` records.
    retry_after_s
        The Retry-After a 429 carries.
    """

    __slots__ = (
        "_entities",
        "_trace",
        "_concurrency_limit",
        "_in_flight",
        "_limit_exceeded",
        "_next_internal_id",
        "_customers",
        "_invoices",
        "_payments",
        "_voids",
        "_writeoffs",
        "_reversals",
        "_recoveries",
        "_records_by_type",
        "_views",
        "_periods",
        "_valid_periods",
        "_ledger",
        "other_load",
        "_by_internal_id",
    )

    def __init__(
        self,
        *,
        entities: dict[str, str],
        concurrency_limit: int,
        trace: Trace,
        retry_after_s: float = 1.0,
    ) -> None:
        if concurrency_limit < 1:
            raise ValueError(f"concurrency_limit must be at least 1, got {concurrency_limit}")
        self._entities = dict(entities)
        self._trace = trace
        self._concurrency_limit = concurrency_limit
        self._in_flight = 0
        # Requests other clients of the same account have in flight: they share the cap.
        self.other_load = 0
        # Built once: the 429 is the answer a loaded account gives most, and it never varies.
        self._limit_exceeded = ErpResponse(
            429,
            "",
            SSS_REQUEST_LIMIT_EXCEEDED,
            f"concurrency limit of {concurrency_limit} requests exceeded",
            retry_after_s,
        )
        self._next_internal_id = FIRST_INTERNAL_ID
        self._customers: dict[str, CustomerRecord] = {}
        # Parents can be referenced by internal id too, as NetSuite allows; records created
        # without an external id are already keyed by it.
        self._by_internal_id: dict[str, CustomerRecord | InvoiceRecord] = {}
        self._invoices: dict[str, InvoiceRecord] = {}
        self._payments: dict[str, PaymentRecord] = {}
        self._voids: dict[str, PostedDocument] = {}
        self._writeoffs: dict[str, PostedDocument] = {}
        self._reversals: dict[str, PostedDocument] = {}
        self._recoveries: dict[str, PostedDocument] = {}
        self._records_by_type: dict[str, dict[str, Any]] = {
            "customer": self._customers,
            "invoice": self._invoices,
            "payment": self._payments,
            "void": self._voids,
            "writeoff": self._writeoffs,
            "reversal": self._reversals,
            "recovery": self._recoveries,
        }
        self._views = {name: MappingProxyType(rec) for name, rec in self._records_by_type.items()}
        self._periods = PeriodBook(self._entities)
        self._valid_periods: set[str] = set()
        self._ledger = GeneralLedger()

    # -- concurrency -----------------------------------------------------------------------

    def begin_request(self) -> ErpResponse | None:
        """Admit one request: None if admitted (now in flight), else the 429 to answer with."""
        if self._in_flight + self.other_load >= self._concurrency_limit:
            return self._limit_exceeded
        self._in_flight += 1
        return None

    def end_request(self) -> None:
        """Release the slot of an admitted request.

        Raises `IllegalTransition` if no request is in flight: that is a caller bug.
        """
        if self._in_flight <= 0:
            raise IllegalTransition("erp_concurrency", "idle", "end_request")
        self._in_flight -= 1

    def add_entity(self, entity: str, currency: str) -> None:
        """Set up a subsidiary (an administrator fixing master data)."""
        self._entities[entity] = currency
        self._periods.add_entity(entity)

    @property
    def concurrency_limit(self) -> int:
        """The account-wide cap on requests in flight."""
        return self._concurrency_limit

    def set_concurrency_limit(self, limit: int) -> None:
        """Change the cap (a lower tier, a capacity incident); requests in flight are not cut off."""
        if limit < 1:
            raise ValueError(f"concurrency_limit must be at least 1, got {limit}")
        self._concurrency_limit = limit
        self._limit_exceeded = self._limit_exceeded._replace(
            message=f"concurrency limit of {limit} requests exceeded")

    @property
    def in_flight(self) -> int:
        """Requests admitted by `begin_request` and not yet ended."""
        return self._in_flight

    # -- posting ---------------------------------------------------------------------------

    def post(
        self, document: ErpDocument, now_s: float, started_s: float | None = None
    ) -> ErpResponse:
        """Create (or, for a customer, upsert) a document at `now_s`.

        `started_s` is when the request started: if the invoice a payment, void or write-off
        targets changed after it, the answer is 409 RCRD_HAS_BEEN_CHANGED and nothing is applied.
        Answers 201 on create, 200 on a customer update, else a 4xx error response.
        """
        post_one = _POST_BY_TYPE.get(document.doc_type)
        if post_one is None:
            return rejected(INVALID_FLD_VALUE, f"unknown record type {document.doc_type!r}")
        return post_one(self, document, now_s, started_s)

    def _post_customer(
        self, document: ErpDocument, now_s: float, started_s: float | None
    ) -> ErpResponse:
        refused = self._refuse_customer(document)
        if refused is not None:
            return refused
        existing = self._customers.get(document.external_id) if document.external_id else None
        if existing is not None:
            if existing.document.entity != document.entity:
                return rejected(INVALID_FLD_VALUE, "a customer cannot change subsidiary")
            # NetSuite fixes a customer's primary currency once it has transactions; like the
            # subsidiary, this ERP fixes it from the start. Accepted, it made the next invoice's
            # currency a missing reference (INVALID_KEY_OR_REF), retried as if it would appear.
            if existing.document.currency != document.currency:
                return rejected(INVALID_FLD_VALUE, "a customer cannot change currency")
            existing.document = document
            existing.modified_s = now_s
            return ErpResponse(200, existing.internal_id, "", "")
        internal_id = self._create_customer(document, now_s)
        self._emit_document(now_s, internal_id, document, 0, "", "")
        return ErpResponse(201, internal_id, "", "")

    def _post_invoice(
        self, document: ErpDocument, now_s: float, started_s: float | None
    ) -> ErpResponse:
        if document.external_id and document.external_id in self._invoices:
            return _duplicate(document)
        customer = self._customers.get(document.parent_id) or self._by_internal_id.get(document.parent_id)
        if not isinstance(customer, CustomerRecord):
            return _missing_parent("customer", document.parent_id)
        refused = self._refuse_books_and_period(document, customer.document, "customer")
        if refused is not None:
            return refused
        total_minor = balanced_total_minor(document.journal)
        if total_minor is None:
            return _unbalanced()
        subtotal_minor = 0
        tax_minor = 0
        for line in document.lines:
            subtotal_minor += line.amount_minor
            tax_minor += line.tax_minor
        if document.tax_minor != tax_minor or document.amount_minor != subtotal_minor + tax_minor:
            return rejected(
                INVALID_TRANS_AMT,
                f"invoice total {document.amount_minor} (tax {document.tax_minor}) does not equal "
                f"its lines {subtotal_minor} plus their tax {tax_minor}",
            )
        if document.amount_minor < 0:
            return rejected(INVALID_TRANS_AMT, "an invoice total cannot be negative")
        internal_id = self._new_internal_id()
        record = InvoiceRecord(internal_id, _without_journal(document), now_s)
        if not document.amount_minor:
            record.status = INVOICE.next(OPEN, "settle")  # nothing owed: NetSuite shows it paid in full
        self._invoices[document.external_id or internal_id] = record
        if document.external_id:
            self._by_internal_id[internal_id] = record
        self._ledger.post(document.entity, document.currency, document.journal)
        service_periods = ";".join(
            f"{int(line.period_start_s)}-{int(line.period_end_s)}" for line in document.lines
        )
        self._emit_document(now_s, internal_id, document, total_minor, service_periods,
                            customer.document.source_id)
        return ErpResponse(201, internal_id, "", "")

    def _post_payment(
        self, document: ErpDocument, now_s: float, started_s: float | None
    ) -> ErpResponse:
        found = self._target_invoice(document, self._payments, started_s)
        if type(found) is ErpResponse:  # both answers are tuples: tell them apart by exact type
            return found
        invoice, total_minor = found
        # A void or written-off invoice has nothing open, so the payment stays fully unapplied.
        applied_minor = min(document.amount_minor, invoice.open_minor)
        if applied_minor:
            invoice.open_minor -= applied_minor
            invoice.applied_minor += applied_minor
            invoice.modified_s = now_s
        if invoice.open_minor == 0 and invoice.status == OPEN:
            invoice.status = INVOICE.next(OPEN, "settle")
            invoice.modified_s = now_s
        internal_id = self._new_internal_id()
        payment = PaymentRecord(internal_id, _without_journal(document), applied_minor)
        self._payments[document.external_id or internal_id] = payment
        self._ledger.post(document.entity, document.currency, document.journal)
        self._emit_document(now_s, internal_id, document, total_minor, "", invoice.document.source_id)
        emit = self._trace.emit
        emit(
            now_s,
            "erp.payment_applied",
            object_id=internal_id,
            ref_id=document.source_id,
            parent_id=invoice.document.source_id,
            entity=document.entity,
            currency=document.currency,
            amount_minor=applied_minor,
        )
        if payment.unapplied_minor:
            emit(
                now_s,
                "erp.payment_unapplied",
                object_id=internal_id,
                ref_id=document.source_id,
                parent_id=invoice.document.source_id,
                entity=document.entity,
                currency=document.currency,
                amount_minor=payment.unapplied_minor,
            )
        return ErpResponse(201, internal_id, "", "")

    def _post_void(
        self, document: ErpDocument, now_s: float, started_s: float | None
    ) -> ErpResponse:
        found = self._target_invoice(document, self._voids, started_s)
        if type(found) is ErpResponse:
            return found
        invoice, total_minor = found
        if invoice.applied_minor:
            return rejected(INVALID_TRANS_AMT, "cannot void an invoice with payments applied")
        refused = _refuse_move(invoice, "void")
        if refused is not None:
            return refused
        return self._close_invoice(invoice, "void", self._voids, document, now_s, total_minor)

    def _post_writeoff(
        self, document: ErpDocument, now_s: float, started_s: float | None
    ) -> ErpResponse:
        found = self._target_invoice(document, self._writeoffs, started_s)
        if type(found) is ErpResponse:
            return found
        invoice, total_minor = found
        refused = _refuse_move(invoice, "writeoff")
        if refused is not None:
            return refused
        if document.amount_minor != invoice.open_minor:
            return rejected(
                INVALID_TRANS_AMT,
                f"write-off of {document.amount_minor} does not equal the invoice's open amount "
                f"{invoice.open_minor}",
            )
        return self._close_invoice(
            invoice, "writeoff", self._writeoffs, document, now_s, total_minor
        )

    def _post_reversal(
        self, document: ErpDocument, now_s: float, started_s: float | None
    ) -> ErpResponse:
        """Reverse a payment (a returned bank debit): what it applied is open again on its invoice,
        what it left unapplied is gone, and a paid invoice reopens. The parent is the payment's
        external id."""
        found = self._undone_record(document, self._reversals, self._payments, "payment")
        if type(found) is ErpResponse:
            return found
        payment, invoice, total_minor = cast("tuple[PaymentRecord, InvoiceRecord, int]", found)
        if payment.amount_minor and not payment.applied_minor and not payment.unapplied_minor:
            return rejected(INVALID_FLD_VALUE, f"payment {document.parent_id} is already reversed")
        applied_minor, unapplied_minor = payment.applied_minor, payment.unapplied_minor
        if applied_minor:
            invoice.open_minor += applied_minor
            invoice.applied_minor -= applied_minor
            if invoice.status == PAID:
                invoice.status = INVOICE.next(PAID, "reopen")
            invoice.modified_s = now_s
        payment.applied_minor = payment.unapplied_minor = 0
        internal_id = self._new_internal_id()
        self._reversals[document.external_id or internal_id] = PostedDocument(internal_id, _without_journal(document))
        self._ledger.post(document.entity, document.currency, document.journal)
        invoice_source = invoice.document.source_id
        self._emit_document(now_s, internal_id, document, total_minor, "", invoice_source)
        emit = self._trace.emit
        fields = {"ref_id": payment.document.source_id, "parent_id": invoice_source,
                  "entity": document.entity, "currency": document.currency}
        emit(now_s, "erp.payment_reversed", object_id=payment.internal_id,
             amount_minor=payment.amount_minor, **fields)
        if applied_minor:
            emit(now_s, "erp.payment_applied", object_id=payment.internal_id, amount_minor=-applied_minor,
                 **fields)
        if unapplied_minor:
            emit(now_s, "erp.payment_unapplied", object_id=payment.internal_id, amount_minor=0, **fields)
        return ErpResponse(201, internal_id, "", "")

    def _post_recovery(
        self, document: ErpDocument, now_s: float, started_s: float | None
    ) -> ErpResponse:
        """Recover a written-off invoice (the customer paid it after all): the write-off's amount is
        open again and the invoice reopens, for the payment to apply to (Dr AR, Cr bad debt). The
        parent is the write-off's external id."""
        found = self._undone_record(document, self._recoveries, self._writeoffs, "writeoff")
        if type(found) is ErpResponse:
            return found
        _, invoice, total_minor = cast("tuple[PostedDocument, InvoiceRecord, int]", found)
        refused = _refuse_move(invoice, "recovery")
        if refused is not None:
            return refused
        invoice.status = INVOICE.next(invoice.status, "recovery")
        invoice.open_minor += document.amount_minor
        invoice.modified_s = now_s
        internal_id = self._new_internal_id()
        self._recoveries[document.external_id or internal_id] = PostedDocument(internal_id, _without_journal(document))
        self._ledger.post(document.entity, document.currency, document.journal)
        self._emit_document(now_s, internal_id, document, total_minor, "", invoice.document.source_id)
        return ErpResponse(201, internal_id, "", "")

    # -- shared steps ----------------------------------------------------------------------

    def _undone_record(
        self,
        document: ErpDocument,
        records: Mapping[str, object],
        parents: Mapping[str, PaymentRecord] | Mapping[str, PostedDocument],
        parent_type: str,
    ) -> ErpResponse | tuple[PaymentRecord | PostedDocument, InvoiceRecord, int]:
        """The record a reversal (a payment) or a recovery (a write-off) undoes, the invoice it was
        posted against and the journal total, or why not, in the module's order of checks."""
        if document.external_id and document.external_id in records:
            return _duplicate(document)
        parent = parents.get(document.parent_id)
        if parent is None:
            return _missing_parent(parent_type, document.parent_id)
        refused = self._refuse_books_and_period(document, parent.document, parent_type)
        if refused is not None:
            return refused
        total_minor = balanced_total_minor(document.journal)
        if total_minor is None:
            return _unbalanced()
        parent_minor = parent.document.amount_minor
        if document.amount_minor != parent_minor:
            return rejected(INVALID_TRANS_AMT, f"a {document.doc_type} of {document.amount_minor} does not equal "
                                               f"{parent_type} {document.parent_id} of {parent_minor}")
        # Payments and write-offs were only ever posted against an invoice (`_target_invoice`), by either of its ids.
        invoice_id = parent.document.parent_id
        invoice = cast(InvoiceRecord, self._invoices.get(invoice_id) or self._by_internal_id.get(invoice_id))
        return parent, invoice, total_minor

    def _target_invoice(
        self,
        document: ErpDocument,
        records: Mapping[str, object],
        started_s: float | None,
    ) -> ErpResponse | tuple[InvoiceRecord, int]:
        """The invoice a payment, void or write-off applies to and its journal total, or why not."""
        if document.external_id and document.external_id in records:
            return _duplicate(document)
        invoice = self._invoices.get(document.parent_id) or self._by_internal_id.get(document.parent_id)
        if not isinstance(invoice, InvoiceRecord):
            return _missing_parent("invoice", document.parent_id)
        refused = self._refuse_books_and_period(document, invoice.document, "invoice")
        if refused is not None:
            return refused
        total_minor = balanced_total_minor(document.journal)
        if total_minor is None:
            return _unbalanced()
        if document.amount_minor < 0:
            return rejected(INVALID_TRANS_AMT, f"a {document.doc_type} amount cannot be negative")
        if started_s is not None and invoice.modified_s > started_s:
            return rejected(
                RCRD_HAS_BEEN_CHANGED,
                f"invoice {document.parent_id} has been changed since the request started",
                409,
            )
        return invoice, total_minor

    def _refuse_books_and_period(
        self, document: ErpDocument, parent: ErpDocument, parent_type: str
    ) -> ErpResponse | None:
        """Why a transaction cannot be booked against its parent or period, or None."""
        if document.entity != parent.entity:
            return rejected(
                INVALID_KEY_OR_REF,
                f"subsidiary mismatch: {document.entity} but {parent_type} "
                f"{document.parent_id} belongs to {parent.entity}",
            )
        if document.currency != parent.currency:
            return rejected(
                INVALID_KEY_OR_REF,
                f"invalid currency reference key {document.currency} for {parent_type} "
                f"{document.parent_id} in {parent.currency}",
            )
        period = document.posting_period
        if period not in self._valid_periods:  # a run names few periods: parse each once
            if not is_period_name(period):
                return rejected(
                    INVALID_FLD_VALUE, f"posting period must be 'YYYY-MM', got {period!r}"
                )
            self._valid_periods.add(period)
        if self._periods.is_closed(document.entity, period):
            return rejected(
                CLOSED_TRAN_PRD, f"the period {period} is closed for subsidiary {document.entity}"
            )
        return None

    def _refuse_customer(self, document: ErpDocument) -> ErpResponse | None:
        if document.entity not in self._entities:
            return rejected(INVALID_KEY_OR_REF, f"subsidiary {document.entity!r} does not exist")
        if document.journal:
            return rejected(INVALID_FLD_VALUE, "a customer record carries no journal lines")
        return None

    def _close_invoice(
        self,
        invoice: InvoiceRecord,
        doc_type: str,
        records: dict[str, PostedDocument],
        document: ErpDocument,
        now_s: float,
        total_minor: int,
    ) -> ErpResponse:
        """Void or write off `invoice`: nothing stays open."""
        invoice.status = INVOICE.next(invoice.status, doc_type)
        invoice.open_minor = 0
        invoice.modified_s = now_s
        internal_id = self._new_internal_id()
        records[document.external_id or internal_id] = PostedDocument(internal_id, _without_journal(document))
        self._ledger.post(document.entity, document.currency, document.journal)
        self._emit_document(now_s, internal_id, document, total_minor, "", invoice.document.source_id)
        return ErpResponse(201, internal_id, "", "")

    def _create_customer(self, document: ErpDocument, now_s: float) -> str:
        internal_id = self._new_internal_id()
        record = CustomerRecord(internal_id, document, now_s)
        self._customers[document.external_id or internal_id] = record
        if document.external_id:
            self._by_internal_id[internal_id] = record
        return internal_id

    def _new_internal_id(self) -> str:
        internal_id = self._next_internal_id
        self._next_internal_id = internal_id + 1
        return str(internal_id)

    def _emit_document(
        self,
        now_s: float,
        internal_id: str,
        document: ErpDocument,
        journal_total_minor: int,
        service_periods: str,
        parent_source_id: str,
    ) -> None:
        # The trace speaks in source ids: the parent is named by its source id even when the
        # request referred to it by internal id.
        self._trace.emit(
            now_s,
            "erp.document",
            object_id=internal_id,
            ref_id=document.source_id,
            parent_id=parent_source_id,
            entity=document.entity,
            currency=document.currency,
            amount_minor=document.amount_minor,
            tax_minor=document.tax_minor,
            debit_minor=journal_total_minor,
            credit_minor=journal_total_minor,
            period=document.posting_period,
            code=document.doc_type,
            detail=service_periods,
        )

    # -- other requests --------------------------------------------------------------------

    def lookup(self, doc_type: str, external_id: str) -> ErpResponse:
        """Find a record by external id: 200 with its internal id, or 404 RCRD_DSNT_EXIST."""
        records = self._records_by_type.get(doc_type)
        if records is None:
            return rejected(INVALID_FLD_VALUE, f"unknown record type {doc_type!r}")
        record = records.get(external_id) if external_id else None
        if record is None:
            return rejected(
                RCRD_DSNT_EXIST, f"no {doc_type} with external id {external_id!r}", 404
            )
        return ErpResponse(200, record.internal_id, "", "")

    def close_period(self, entity: str, period: str, now_s: float) -> None:
        """Close "YYYY-MM" for `entity` (``"*"``: every entity). Idempotent; traced once.

        Raises ValueError for an unknown entity or a malformed period (a scenario bug).
        """
        if self._periods.close(entity, period):
            self._trace.emit(now_s, "erp.period_closed", entity=entity, period=period)

    def is_closed(self, entity: str, period: str) -> bool:
        """Whether `entity` can no longer post into `period` (``"*"``: no entity can)."""
        return self._periods.is_closed(entity, period)

    def preload_customer(self, document: ErpDocument) -> str:
        """Create a customer of the books that exist before the run; not traced.

        Returns its internal id. Raises ValueError for an invalid customer or an external id that
        is already taken: preloading is set-up, so a bad input is a scenario bug.
        """
        if document.doc_type != "customer":
            raise ValueError(f"preload_customer takes a customer, got {document.doc_type!r}")
        refused = self._refuse_customer(document)
        if refused is not None:
            raise ValueError(refused.message)
        if document.external_id in self._customers:
            raise ValueError(f"customer {document.external_id!r} already exists")
        return self._create_customer(document, 0.0)

    # -- read-only views -------------------------------------------------------------------

    @property
    def customers(self) -> Mapping[str, CustomerRecord]:
        """Customers by external id (internal id for those posted without one); live, read-only."""
        return self._views["customer"]

    @property
    def invoices(self) -> Mapping[str, InvoiceRecord]:
        """Invoices by external id (internal id for those posted without one); live, read-only."""
        return self._views["invoice"]

    @property
    def payments(self) -> Mapping[str, PaymentRecord]:
        """Payments by external id (internal id for those posted without one); live, read-only."""
        return self._views["payment"]

    @property
    def recoveries(self) -> Mapping[str, PostedDocument]:
        """Recoveries of written-off invoices by external id (internal id without one); live, read-only."""
        return self._views["recovery"]

    @property
    def voids(self) -> Mapping[str, PostedDocument]:
        """Voids by external id (internal id for those posted without one); live, read-only."""
        return self._views["void"]

    @property
    def writeoffs(self) -> Mapping[str, PostedDocument]:
        """Write-offs by external id (internal id for those posted without one); live, read-only."""
        return self._views["writeoff"]

    @property
    def reversals(self) -> Mapping[str, PostedDocument]:
        """Payment reversals by external id (internal id for those posted without one); live, read-only."""
        return self._views["reversal"]

    def gl_balance(self, entity: str, currency: str, account: str) -> int:
        """Debits minus credits of `account` in the book of `entity` in `currency`."""
        return self._ledger.balance(entity, currency, account)

    def gl_balances(self) -> dict[tuple[str, str, str], int]:
        """Every (entity, currency, account) balance, sorted by key."""
        return self._ledger.balances()

    def closed_periods(self) -> list[tuple[str, str]]:
        """Every close, as sorted (entity, period) pairs."""
        return self._periods.closed()

    def documents_count(self) -> int:
        """How many records were created, of every type, preloaded customers included."""
        return self._next_internal_id - FIRST_INTERNAL_ID


# How each record type is posted. Plain functions, not bound methods: a dict of bound methods
# held by the Erp would be a reference cycle, freed only by a collector pass over the whole book.
_POST_BY_TYPE: dict[str, Callable[[Erp, ErpDocument, float, float | None], ErpResponse]] = {
    "customer": Erp._post_customer,
    "invoice": Erp._post_invoice,
    "payment": Erp._post_payment,
    "void": Erp._post_void,
    "writeoff": Erp._post_writeoff,
    "reversal": Erp._post_reversal,
    "recovery": Erp._post_recovery,
}


def _without_journal(document: ErpDocument) -> ErpDocument:
    """The document as kept after posting: its journal has gone into the general ledger's balances
    (and its totals into the trace), so records do not hold a second copy of millions of lines."""
    # Built as a tuple: NamedTuple._replace costs several times more, on every ERP write.
    return tuple.__new__(ErpDocument, (*document[:_JOURNAL], (), *document[_JOURNAL + 1:]))


_JOURNAL = ErpDocument._fields.index("journal")


def _duplicate(document: ErpDocument) -> ErpResponse:
    return rejected(
        DUP_RCRD, f"a {document.doc_type} with external id {document.external_id} already exists"
    )


def _missing_parent(parent_type: str, parent_id: str) -> ErpResponse:
    return rejected(INVALID_KEY_OR_REF, f"{parent_type} {parent_id!r} does not exist")


def _unbalanced() -> ErpResponse:
    return rejected(
        INVALID_TRANS_AMT, "journal does not balance: lines must be one-sided and debits = credits"
    )


def _refuse_move(invoice: InvoiceRecord, doc_type: str) -> ErpResponse | None:
    if INVOICE.allows(invoice.status, doc_type):
        return None
    return rejected(
        INVALID_FLD_VALUE,
        f"cannot {doc_type} invoice {invoice.document.external_id or invoice.internal_id} "
        f"in status {invoice.status}",
    )
