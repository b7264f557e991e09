"""The ERP fake, modelled on NetSuite: customers, AR invoices, payments, voids, write-offs, a GL.

A pure state machine: `Erp.post` takes an `ErpDocument` and the time, and answers an `ErpResponse`
(201 created, 200 customer updated, 4xx with a NetSuite error code). `Erp.begin_request` and
`Erp.end_request` enforce the account-wide concurrency cap (429 SSS_REQUEST_LIMIT_EXCEEDED).

Modules: `responses` (answer type, error codes), `state` (records, invoice status `StateMachine`),
`periods` (closed periods), `journal` (balance check, general ledger), `ledger` (the `Erp`).
"""

from rehearse.fakes.erp.ledger import FIRST_INTERNAL_ID, Erp
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
)
from rehearse.fakes.erp.state import (
    INVOICE,
    CustomerRecord,
    InvoiceRecord,
    PaymentRecord,
    PostedDocument,
)

__all__ = [
    "CLOSED_TRAN_PRD",
    "DUP_RCRD",
    "FIRST_INTERNAL_ID",
    "INVALID_FLD_VALUE",
    "INVALID_KEY_OR_REF",
    "INVALID_TRANS_AMT",
    "INVOICE",
    "RCRD_DSNT_EXIST",
    "RCRD_HAS_BEEN_CHANGED",
    "SSS_REQUEST_LIMIT_EXCEEDED",
    "CustomerRecord",
    "Erp",
    "ErpResponse",
    "InvoiceRecord",
    "PaymentRecord",
    "PostedDocument",
]
