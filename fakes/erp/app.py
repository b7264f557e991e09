"""The ERP fake over HTTP, NetSuite-style: ``POST /record/v1/{type}`` creates (a customer:
upserts by external id), ``GET /record/v1/{type}/{id}`` reads a record by internal id or by
``eid:<external id>``. Errors are NetSuite's: ``{"error": {"code": "DUP_RCRD", "message": ...}}``;
429 and 503 carry Retry-After.

Thin: parse the body into an `ErpDocument`, pass the account's concurrency gate
(`Erp.begin_request`), wait the call's latency inside it (so the cap bites as it does live), apply
with `Erp.post` at the clock's time, shape `ErpResponse` as JSON. The state machine is
`rehearse.fakes.erp.ledger.Erp`; this module holds no business rule.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, MutableMapping
from typing import Annotated, Any, Literal, get_args

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from rehearse.fakes.erp.ledger import Erp
from rehearse.fakes.erp.responses import INVALID_FLD_VALUE, RCRD_DSNT_EXIST, ErpResponse
from rehearse.fakes.erp.state import CustomerRecord, InvoiceRecord, PaymentRecord
from rehearse.fakes.http import (
    EXTRA_LATENCY_KEY, Receive, Scope, Send, answer_http_errors, error_responses, request_error_message,
    retry_after_header, tidy_openapi,
)
from rehearse.sync.model import DOCUMENT_TYPES, ErpDocument, InvoiceLine, JournalLine

RecordType = Literal["customer", "invoice", "payment", "void", "writeoff", "reversal", "recovery"]
_RECORD_TYPES: tuple[RecordType, ...] = get_args(RecordType)  # `DOCUMENT_TYPES`, typed as literals

_Strict = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class JournalLineBody(BaseModel):
    """One side of a journal entry: exactly one of debit and credit is non-zero."""

    model_config = _Strict
    account: Annotated[str, Field(min_length=1, max_length=100)]
    debit_minor: Annotated[int, Field(ge=0)]
    credit_minor: Annotated[int, Field(ge=0)]


class InvoiceLineBody(BaseModel):
    """An invoice line with its service period [period_start_s, period_end_s) in Unix seconds."""

    model_config = _Strict
    description: Annotated[str, Field(max_length=500)]
    kind: Literal["subscription", "proration"]
    amount_minor: int
    tax_minor: int
    period_start_s: float
    period_end_s: float


class RecordBody(BaseModel):
    """A record to create: money in integer minor units of `currency`; `parent_id` is the external
    (or internal) id of the customer an invoice belongs to, or of the invoice a payment, void or
    write-off applies to."""

    model_config = ConfigDict(**_Strict, json_schema_extra={"examples": [{
        "external_id": "cus_1", "source_id": "cus_1", "entity": "US01", "currency": "USD", "amount_minor": 0,
        "tran_date_s": 1769904000.0, "name": "Acme Corp"}]})
    external_id: Annotated[str, Field(max_length=255)] = ""
    source_id: Annotated[str, Field(max_length=255)]
    parent_id: Annotated[str, Field(max_length=255)] = ""
    entity: Annotated[str, Field(min_length=1, max_length=40)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    amount_minor: int
    tax_minor: int = 0
    tran_date_s: float
    # Left out, it is "" (pydantic does not validate defaults) and the schema shows no default, which
    # the pattern would refuse: a customer has no period.
    posting_period: Annotated[str, Field(
        pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$",
        description="YYYY-MM. Required for a transaction (INVALID_FLD_VALUE without it); a customer, "
                    "master data, is booked in no period and leaves it out.",
        json_schema_extra=lambda schema: schema.pop("default", None))] = ""
    lines: list[InvoiceLineBody] = []
    journal: list[JournalLineBody] = []
    name: Annotated[str, Field(max_length=200)] = ""


class RecordRef(BaseModel):
    """The internal id of the record created or updated."""

    id: str


class RecordView(BaseModel):
    """A record as read back. `status` is open, paid, void or written_off for an invoice and
    "posted" otherwise; `open_minor` is set for invoices, `applied_minor` and `unapplied_minor`
    for payments."""

    id: str
    type: RecordType
    external_id: str
    source_id: str
    parent_id: str
    entity: str
    currency: str
    amount_minor: int
    tax_minor: int
    posting_period: str
    status: str
    open_minor: int | None = None
    applied_minor: int | None = None
    unapplied_minor: int | None = None


class NetSuiteErrorDetail(BaseModel):
    code: str
    message: str


class NetSuiteError(BaseModel):
    """A NetSuite error: ``{"error": {"code": "DUP_RCRD", "message": "..."}}``."""

    error: NetSuiteErrorDetail


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    """The JSON of a NetSuite error answer."""
    return {"error": {"code": code, "message": message}}


def _error(status: int, code: str, message: str, retry_after_s: float | None = None) -> JSONResponse:
    headers = {"Retry-After": retry_after_header(retry_after_s)} if retry_after_s is not None else None
    return JSONResponse(error_body(status, code, message), status_code=status, headers=headers)


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"},
                                "required": True}}
_RETRY_AFTER_OPTIONAL = {"Retry-After": {"description": "Seconds to wait (maintenance windows).",
                                         "schema": {"type": "integer"}}}


_DESCRIBED = {
    400: "Malformed request or a record the ERP refuses: INVALID_FLD_VALUE, INVALID_KEY_OR_REF "
         "(missing or mismatched parent), INVALID_TRANS_AMT, CLOSED_TRAN_PRD, DUP_RCRD.",
    404: "RCRD_DSNT_EXIST: no record with that id.",
    409: "RCRD_HAS_BEEN_CHANGED: the invoice changed since the request started (optimistic lock).",
    429: "SSS_REQUEST_LIMIT_EXCEEDED: the account's concurrency limit is reached.",
    500: "UNEXPECTED_ERROR: a server error; nothing was applied.",
    502: "UNEXPECTED_ERROR: a bad gateway; nothing was applied.",
    503: "SERVICE_UNAVAILABLE: maintenance or overload; nothing was applied.",
    504: "UNEXPECTED_ERROR: a gateway timeout; nothing was applied.",
}


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(NetSuiteError, _DESCRIBED, statuses, {429: _RETRY_AFTER, 503: _RETRY_AFTER_OPTIONAL})


def _document(record_type: str, body: RecordBody) -> ErpDocument:
    return ErpDocument(
        record_type, body.external_id, body.source_id, body.parent_id, body.entity, body.currency,
        body.amount_minor, body.tax_minor, body.tran_date_s, body.posting_period,
        tuple(InvoiceLine(line.description, line.kind, line.amount_minor, line.tax_minor, line.period_start_s,
                          line.period_end_s) for line in body.lines),
        tuple(JournalLine(line.account, line.debit_minor, line.credit_minor) for line in body.journal),
        body.name,
    )


def _view(record_type: RecordType, record: Any) -> RecordView:
    document: ErpDocument = record.document
    status, extra = "posted", {}
    if isinstance(record, CustomerRecord):
        status = "active"
    elif isinstance(record, InvoiceRecord):
        status, extra = record.status, {"open_minor": record.open_minor}
    elif isinstance(record, PaymentRecord):
        extra = {"applied_minor": record.applied_minor, "unapplied_minor": record.unapplied_minor}
    return RecordView(id=record.internal_id, type=record_type, external_id=document.external_id,
                      source_id=document.source_id, parent_id=document.parent_id, entity=document.entity,
                      currency=document.currency, amount_minor=document.amount_minor, tax_minor=document.tax_minor,
                      posting_period=document.posting_period, status=status, **extra)


_RECORD_PREFIX = "/record/v1/"
_RECORD_ID = re.compile(r"[0-9]+|eid:.+")  # the path parameter's pattern (a fullmatch: no newline)
_RECORD_ID_MAX_LENGTH = 260


class _ErpApp(FastAPI):
    """FastAPI with a direct path for the two hot calls. A well-formed create (a JSON body that
    `RecordBody` accepts) and a read by a well-formed id are answered here with the same handlers,
    validation and answers as the routes, without the per-request dependency solving and response
    model round trip; anything else (a malformed body, another content type, an unknown path, a
    wrong method) goes to the framework, which answers it as documented. The routes stay declared,
    so the OpenAPI document is the framework's own."""

    create: Callable[[str, RecordBody, Scope], Any]
    read: Callable[[RecordType, str, Scope], Any]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.max_body_size is None:
            path: str = scope["path"]
            if path.startswith(_RECORD_PREFIX):
                method = scope["method"]
                rest = path[len(_RECORD_PREFIX):]
                if method == "POST" and rest in DOCUMENT_TYPES and _is_json(scope):
                    messages, body = await _read_body(receive)
                    parsed = _record_body(body)
                    if parsed is not None:
                        response = await self.create(rest, parsed, scope)
                        await response(scope, receive, send)
                        return
                    receive = _replay(messages, receive)
                elif method == "GET":
                    record_type, _, record_id = rest.partition("/")
                    if (record_type in _RECORD_TYPES and len(record_id) <= _RECORD_ID_MAX_LENGTH
                            and "/" not in record_id and _RECORD_ID.fullmatch(record_id)):
                        response = await self.read(record_type, record_id, scope)
                        await response(scope, receive, send)
                        return
        await super().__call__(scope, receive, send)


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value == b"application/json"
    return False


async def _read_body(receive: Receive) -> tuple[list[MutableMapping[str, Any]], bytes]:
    messages, chunks = [], []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, b""
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _record_body(body: bytes) -> RecordBody | None:
    """The body as the framework would validate it (`json.loads`, then the model), or None."""
    if not body:
        return None
    try:
        return RecordBody.model_validate(json.loads(body))
    except ValueError:  # a JSON decode error or a pydantic ValidationError
        return None


def _replay(messages: list[MutableMapping[str, Any]], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> MutableMapping[str, Any]:
        return pending.pop(0) if pending else await receive()

    return replay


def create_app(erp: Erp, *, clock: Callable[[], float], latency_s: Callable[[], float] | None = None) -> FastAPI:
    """The HTTP app over `erp`. `clock` gives the time the ERP stamps (Unix seconds: the wall clock
    live, a scenario clock when replaying one); `latency_s` draws each call's processing time,
    spent inside the concurrency gate (None: answer at once)."""
    app = _ErpApp(title="rehearse ERP (NetSuite-like)", version="1.0.0",
                  description=__doc__, docs_url=None, redoc_url=None)
    by_internal_id: dict[str, tuple[str, str]] = {}  # internal id -> (type, key in the ERP's records)
    records = {"customer": erp.customers, "invoice": erp.invoices, "payment": erp.payments, "void": erp.voids,
               "writeoff": erp.writeoffs, "reversal": erp.reversals, "recovery": erp.recoveries}
    assert tuple(records) == DOCUMENT_TYPES == _RECORD_TYPES

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return _error(400, INVALID_FLD_VALUE, request_error_message(error.errors()))

    answer_http_errors(app, error=_error, codes={404: "INVALID_URL", 405: "METHOD_NOT_ALLOWED"},
                       fallback="UNEXPECTED_ERROR")

    async def _gated(scope: Scope, apply: Callable[[], ErpResponse]) -> ErpResponse:
        rejection = erp.begin_request()
        if rejection is not None:
            return rejection
        try:
            wait_s = (latency_s() if latency_s else 0.0) + scope.get(EXTRA_LATENCY_KEY, 0.0)
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            return apply()
        finally:
            erp.end_request()

    @app.post("/record/v1/{record_type}", status_code=201, response_model=RecordRef,
              responses={200: {"model": RecordRef, "description": "A customer upserted by external id.",
                               "links": {"GetRecord": {"operationId": "get_record",
                                                       "parameters": {"record_type": "$request.path.record_type",
                                                                      "record_id": "$response.body#/id"}}}},
                         201: {"description": "Created.",
                               "links": {"GetRecord": {"operationId": "get_record",
                                                       "parameters": {"record_type": "$request.path.record_type",
                                                                      "record_id": "$response.body#/id"}}}},
                         **_responses(400, 409, 429, 500, 502, 503, 504)},
              operation_id="create_record")
    async def create_record(record_type: RecordType, body: RecordBody, request: Request) -> Any:
        """Create a record (a customer: create or update by external id)."""
        return await create(record_type, body, request.scope)

    async def create(record_type: str, body: RecordBody, scope: Scope) -> JSONResponse:
        document = _document(record_type, body)
        response = await _gated(scope, lambda: erp.post(document, clock()))
        if response.status >= 400:
            return _error(response.status, response.code, response.message, response.retry_after_s)
        key = document.external_id or response.internal_id
        by_internal_id[response.internal_id] = (record_type, key)
        return JSONResponse({"id": response.internal_id}, status_code=response.status)

    @app.get("/record/v1/{record_type}/{record_id}", response_model=RecordView,
             responses=_responses(400, 404, 429, 500, 502, 503, 504), operation_id="get_record")
    async def get_record(
        record_type: RecordType,
        record_id: Annotated[str, Path(pattern=r"^([0-9]+|eid:.+)$", max_length=260,
                                       description="An internal id, or eid:<external id>.")],
        request: Request,
    ) -> Any:
        """Read a record by internal id or by ``eid:<external id>``."""
        return await read(record_type, record_id, request.scope)

    async def read(record_type: RecordType, record_id: str, scope: Scope) -> JSONResponse:
        response = await _gated(scope, lambda: ErpResponse(200, "", "", ""))
        if response.status >= 400:
            return _error(response.status, response.code, response.message, response.retry_after_s)
        if record_id.startswith("eid:"):
            key = record_id[4:]
        else:
            found = by_internal_id.get(record_id)
            key = found[1] if found is not None and found[0] == record_type else record_id
        record = records[record_type].get(key)
        if record is None:
            return _error(404, RCRD_DSNT_EXIST, f"no {record_type} with id {record_id!r}")
        return JSONResponse(_view(record_type, record).model_dump())

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            app.openapi_schema = tidy_openapi(get_openapi(title=app.title, version=app.version,
                                                          description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.create, app.read = create, read
    return app
