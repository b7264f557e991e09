"""The ERP's records and the invoice status table.

A run holds millions of records, so each is a ``__slots__`` object that keeps a reference to the
`ErpDocument` it was created from (no copied fields) plus only the state that changes afterwards.
Voids and write-offs never change once created and are plain `PostedDocument` tuples.
"""

from __future__ import annotations

from typing import NamedTuple

from rehearse.fakes.machine import StateMachine
from rehearse.sync.model import ErpDocument

# Invoice statuses.
OPEN = "open"
PAID = "paid"
VOID = "void"
WRITTEN_OFF = "written_off"

INVOICE = StateMachine(
    "erp_invoice",
    {
        # A missing pair is an illegal move, answered with 400 INVALID_FLD_VALUE. Guards the ledger
        # checks before consulting the table: "settle" happens when payments bring the open amount
        # to zero; a void needs nothing applied (else 400 INVALID_TRANS_AMT); a write-off must be
        # of exactly the open amount. A payment on a paid, void or written-off invoice is accepted
        # but applies nothing, so it is no move at all.
        (OPEN, "settle"): PAID,
        (OPEN, "void"): VOID,
        (OPEN, "writeoff"): WRITTEN_OFF,
        # A payment reversal (a returned bank debit) takes back what the payment had applied.
        (PAID, "reopen"): OPEN,
        # A recovery (the customer paid a written-off invoice after all) reopens it for the payment.
        (WRITTEN_OFF, "recovery"): OPEN,
    },
    (OPEN, PAID, VOID, WRITTEN_OFF),
)


class _Record:
    """What every ERP record is: its internal id and the document it was created from, whose fields
    it reads instead of copying them."""

    __slots__ = ("internal_id", "document")

    def __init__(self, internal_id: str, document: ErpDocument) -> None:
        self.internal_id = internal_id
        self.document = document

    @property
    def entity(self) -> str:
        """The legal entity (subsidiary) the record is booked in."""
        return self.document.entity

    @property
    def currency(self) -> str:
        """The transaction currency."""
        return self.document.currency

    @property
    def amount_minor(self) -> int:
        """The document's amount: an invoice's total, tax included; a payment's amount."""
        return self.document.amount_minor


class CustomerRecord(_Record):
    """A customer: `document` is the latest upserted version; the subsidiary and currency never
    change."""

    __slots__ = ("modified_s",)

    def __init__(self, internal_id: str, document: ErpDocument, modified_s: float) -> None:
        super().__init__(internal_id, document)
        self.modified_s = modified_s

    def __repr__(self) -> str:
        return f"CustomerRecord({self.internal_id!r}, {self.document.external_id!r})"


class InvoiceRecord(_Record):
    """An AR invoice: its document plus status, open and applied amounts and last change time."""

    __slots__ = ("status", "open_minor", "applied_minor", "modified_s")

    def __init__(self, internal_id: str, document: ErpDocument, modified_s: float) -> None:
        self.internal_id = internal_id  # set here, not through super(): a peak creates a million
        self.document = document
        self.status = OPEN
        self.open_minor = document.amount_minor
        self.applied_minor = 0  # payments applied; write-offs and voids are not counted here
        self.modified_s = modified_s

    def __repr__(self) -> str:
        return (
            f"InvoiceRecord({self.internal_id!r}, {self.document.external_id!r}, "
            f"status={self.status!r}, open_minor={self.open_minor})"
        )


class PaymentRecord(_Record):
    """A customer payment: how much of it was applied to its invoice and how much was left over."""

    __slots__ = ("applied_minor", "unapplied_minor")

    def __init__(self, internal_id: str, document: ErpDocument, applied_minor: int) -> None:
        self.internal_id = internal_id  # set here, not through super(): a peak creates a million
        self.document = document
        self.applied_minor = applied_minor
        self.unapplied_minor = document.amount_minor - applied_minor

    def __repr__(self) -> str:
        return (
            f"PaymentRecord({self.internal_id!r}, {self.document.external_id!r}, "
            f"applied_minor={self.applied_minor}, unapplied_minor={self.unapplied_minor})"
        )


class PostedDocument(NamedTuple):
    """A void, write-off, reversal or recovery: immutable once created."""

    internal_id: str
    document: ErpDocument
