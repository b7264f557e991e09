"""What the ERP answers: one response type and the NetSuite error codes it uses.

Errors are answers, not exceptions: the caller (the simulation's ERP client, later an HTTP app)
turns a 4xx response into `rehearse.sync.errors.ErpError`. Only a programming error raises here.
"""

from __future__ import annotations

from typing import NamedTuple, final

# NetSuite error codes, as its REST and SOAP APIs spell them.
CLOSED_TRAN_PRD = "CLOSED_TRAN_PRD"  # posting period is closed for the subsidiary
DUP_RCRD = "DUP_RCRD"  # a record with this external id already exists
INVALID_FLD_VALUE = "INVALID_FLD_VALUE"  # a field value (type, period, status move) is not allowed
INVALID_KEY_OR_REF = "INVALID_KEY_OR_REF"  # a reference to a missing or mismatched record
INVALID_TRANS_AMT = "INVALID_TRANS_AMT"  # amounts do not add up or do not fit the target
RCRD_DSNT_EXIST = "RCRD_DSNT_EXIST"  # lookup found nothing
RCRD_HAS_BEEN_CHANGED = "RCRD_HAS_BEEN_CHANGED"  # optimistic lock: the target changed meanwhile
SSS_REQUEST_LIMIT_EXCEEDED = "SSS_REQUEST_LIMIT_EXCEEDED"  # account-wide concurrency cap reached


# Final: the ledger tells an answer from its (invoice, total) pair by `type(x) is ErpResponse`.
@final
class ErpResponse(NamedTuple):
    """One ERP answer: an HTTP status, the record's internal id on success, else an error code.

    Examples
    --------
    >>> ErpResponse(201, "1001", "", "")
    ErpResponse(status=201, internal_id='1001', code='', message='', retry_after_s=None)
    >>> ErpResponse(201, "1001", "", "").ok
    True
    """

    status: int  # 200, 201, 400, 404, 409, 429
    internal_id: str  # "" on error
    code: str  # "" on success, else the NetSuite error code
    message: str  # human-readable reason, "" on success
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        """Whether the request succeeded (2xx)."""
        return self.status < 300


def rejected(code: str, message: str, status: int = 400) -> ErpResponse:
    """An error response with no internal id."""
    return ErpResponse(status, "", code, message)
