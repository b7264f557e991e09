"""What the engine's ERP and billing calls look like on the wire: the HTTP requests (method, path,
query, JSON body) for each port call. The live HTTP clients send exactly these; the in-process
clients hand them to a contract validator when asked, so a simulated run proves its requests are
ones the providers' documents allow.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rehearse.sync.model import ErpDocument

LIST_PAGE_SIZE = 100  # Stripe's maximum page size


class HttpRequest(NamedTuple):
    """One request: method, path, query parameters and JSON body (None: no body)."""

    method: str
    path: str
    query: dict[str, Any]
    body: Any


def erp_post(document: ErpDocument) -> HttpRequest:
    """``POST /record/v1/<type>`` with the document as the record body."""
    body = {
        "external_id": document.external_id,
        "source_id": document.source_id,
        "parent_id": document.parent_id,
        "entity": document.entity,
        "currency": document.currency,
        "amount_minor": document.amount_minor,
        "tax_minor": document.tax_minor,
        "tran_date_s": document.tran_date_s,
        "posting_period": document.posting_period,
        "lines": [line._asdict() for line in document.lines],
        "journal": [line._asdict() for line in document.journal],
        "name": document.name,
    }
    if not document.posting_period:
        del body["posting_period"]  # a customer is booked in no period
    return HttpRequest("POST", f"/record/v1/{document.doc_type}", {}, body)


def erp_lookup(doc_type: str, external_id: str) -> HttpRequest:
    """``GET /record/v1/<type>/eid:<external id>``."""
    return HttpRequest("GET", f"/record/v1/{doc_type}/eid:{external_id}", {}, None)


def billing_list(what: str, since_s: float, starting_after: str | None = None) -> tuple[str, HttpRequest]:
    """The list request of gap-fill: (system, request) for customers, invoices, charges (succeeded)
    or reversed_charges."""
    query: dict[str, Any] = {"limit": LIST_PAGE_SIZE}
    if starting_after is not None:
        query["starting_after"] = starting_after
    if what == "customers":
        return "billing", HttpRequest("GET", "/v1/customers", {"created_gte": since_s, **query}, None)
    if what == "invoices":
        return "billing", HttpRequest("GET", "/v1/invoices", {"finalized_gte": since_s, **query}, None)
    if what == "charges":
        return "payments", HttpRequest("GET", "/v1/charges", {"created_gte": since_s, "status": "succeeded",
                                                              **query}, None)
    if what == "reversed_charges":
        return "payments", HttpRequest("GET", "/v1/charges", {"reversed_gte": since_s, "status": "reversed",
                                                              **query}, None)
    raise ValueError(f"unknown list {what!r}")


def billing_get_charge(charge_id: str) -> tuple[str, HttpRequest]:
    """The request that re-reads one charge: (system, request)."""
    return "payments", HttpRequest("GET", f"/v1/charges/{charge_id}", {}, None)


def billing_get_invoice(invoice_id: str) -> tuple[str, HttpRequest]:
    """The request that re-reads one invoice: (system, request)."""
    return "billing", HttpRequest("GET", f"/v1/invoices/{invoice_id}", {}, None)
