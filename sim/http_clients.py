"""The engine's live clients: the ERP and billing ports (``rehearse.sync.ports``) over HTTP (the
ERP's calls on `rehearse.sim.http1`'s lean client, billing's lists with aiohttp), raising the same
exceptions as the in-process clients (``rehearse.sync.errors``):

- an error answer -> `ErpError` (status, NetSuite code, message, Retry-After in seconds);
- a connection that could not be made -> `ErpConnectError` (nothing was applied);
- a request sent whose answer never came (a timeout, a connection dropped before the whole answer
  arrived) -> `ErpTimeout`: the outcome is unknown, as after a lost reply.

Requests are the ones `rehearse.sim.erp_wire` builds, so they are exactly what a simulated run
with ``--validate-contracts`` checks against the providers' documents. Each call is traced as
``erp.call`` (code, scenario seconds it took), as in simulation.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from rehearse.sim.erp_wire import (
    HttpRequest, billing_get_charge, billing_get_invoice, billing_list, erp_lookup, erp_post,
)
from rehearse.sim.http1 import ConnectFailed, Http1Client, Http1Error, split_url
from rehearse.sync.errors import ErpConnectError, ErpError, ErpTimeout
from rehearse.sync.model import Address, Charge, Customer, ErpDocument, Invoice, InvoiceLine
from rehearse.sync.ports import Runtime

REQUEST_TIMEOUT_S = 900.0  # NetSuite's request timeout (15 minutes), scenario seconds


_JSON = {"Content-Type": "application/json"}
_PATH_SAFE = "/:@!$&'()*+,;=-._~"  # RFC 3986 pchar and "/": what a path may hold unescaped


def new_session(connections_max: int = 256) -> aiohttp.ClientSession:
    """A client session for the billing client's lists: keep-alive connections, up to `connections_max`."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections_max, limit_per_host=0))


def new_erp_client(connections_max: int = 256) -> Http1Client:
    """The connections the ERP client sends on (close with ``await client.close()``)."""
    return Http1Client(connections_max=connections_max, timeout_s=REQUEST_TIMEOUT_S)


class HttpErpClient:
    """`rehearse.sync.ports.ErpClient` against a NetSuite-like ERP at `base_url`, over `client`'s
    keep-alive connections (`rehearse.sim.http1`: the ERP calls are the engine's hottest path)."""

    def __init__(self, base_url: str, *, runtime: Runtime, client: Http1Client, trace,
                 timeout_s: float = REQUEST_TIMEOUT_S, speedup: float = 1.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.origin, base_path = split_url(self.base_url)
        self.base_path = base_path.rstrip(b"/")
        self.runtime = runtime
        self.client = client
        self.trace = trace
        self.timeout_s = timeout_s / speedup

    async def _send(self, request: HttpRequest, key: str, label: str = "") -> tuple[int, Any, float | None]:
        runtime = self.runtime
        started_s = runtime.now()
        body = b"" if request.body is None else json.dumps(request.body, separators=(",", ":")).encode()
        target = self.base_path + quote(request.path, safe=_PATH_SAFE).encode()
        if request.query:
            target += b"?" + urlencode(request.query).encode()
        try:
            response = await self.client.request(self.origin, request.method.encode(), target, body,
                                                 _JSON if body else {}, timeout_s=self.timeout_s)
            text = response.body.strip()
            payload = json.loads(text) if text else None
        except ConnectFailed as error:
            self._traced(key, f"{label}CONNECT_ERROR", started_s)
            raise ErpConnectError(f"could not connect to the ERP: {error}") from None
        except (Http1Error, ValueError) as error:
            # Sent, but no whole answer: the ERP may or may not have applied it.
            self._traced(key, f"{label}TIMEOUT", started_s)
            raise ErpTimeout(f"no answer from the ERP for {key}: {type(error).__name__}") from None
        status = response.status
        retry_after = response.headers.get("retry-after")
        code = payload.get("error", {}).get("code", "") if isinstance(payload, dict) and status >= 400 else ""
        self._traced(key, f"{label}{code or status}" if label else (code or str(status)), started_s)
        if retry_after is None or not (retry_after.isascii() and retry_after.isdigit()):
            return status, payload, None  # only whole seconds in ASCII digits are read
        return status, payload, float(retry_after)

    def _traced(self, key: str, code: str, started_s: float) -> None:
        self.trace.emit(self.runtime.now(), "erp.call", object_id=key, code=code, value=self.runtime.now() - started_s)

    async def post(self, document: ErpDocument) -> str:
        """Create or upsert a document; returns its internal id or raises an ErpFailure."""
        key = document.external_id or document.source_id
        status, payload, retry_after_s = await self._send(erp_post(document), key)
        if status >= 400:
            error = payload.get("error", {}) if isinstance(payload, dict) else {}
            raise ErpError(status, error.get("code", "UNEXPECTED_ERROR"), error.get("message", ""), retry_after_s)
        return payload["id"]

    async def lookup(self, doc_type: str, external_id: str) -> str | None:
        """The internal id for an external id, or None when the ERP has no such record."""
        status, payload, retry_after_s = await self._send(erp_lookup(doc_type, external_id), external_id, "lookup ")
        if status == 404:
            return None
        if status >= 400:
            error = payload.get("error", {}) if isinstance(payload, dict) else {}
            raise ErpError(status, error.get("code", "UNEXPECTED_ERROR"), error.get("message", ""), retry_after_s)
        return payload["id"]


class HttpBillingClient:
    """`rehearse.sync.ports.BillingClient` over the Stripe-like billing and payments APIs: each list
    is read page by page (``starting_after``) and mapped back to canonical records."""

    def __init__(self, *, billing_url: str, payments_url: str, runtime: Runtime, session: aiohttp.ClientSession,
                 trace) -> None:
        self.urls = {"billing": billing_url.rstrip("/"), "payments": payments_url.rstrip("/")}
        self.runtime = runtime
        self.session = session
        self.trace = trace

    async def _list(self, what: str, since_s: float) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        starting_after = None
        while True:
            system, request = billing_list(what, since_s, starting_after)
            async with self.session.get(self.urls[system] + request.path, params=request.query) as response:
                payload = await response.json(content_type=None)
                if response.status != 200:
                    raise ErpConnectError(f"{system} list {what} answered {response.status}: {payload}")
            items.extend(payload["data"])
            if not payload["has_more"]:
                break
            starting_after = payload["data"][-1]["id"]
        self.trace.emit(self.runtime.now(), "billing.listed", code=what, value=float(len(items)))
        return items

    async def list_customers(self, since_s: float) -> list[Customer]:
        """Customers created at or after `since_s`."""
        return [customer_of(item) for item in await self._list("customers", since_s)]

    async def list_invoices(self, since_s: float) -> list[Invoice]:
        """Finalized invoices (in any later state) finalized at or after `since_s`."""
        return [invoice_of(item) for item in await self._list("invoices", since_s)]

    async def list_charges(self, since_s: float) -> list[Charge]:
        """Succeeded charges created, and reversed charges reversed, at or after `since_s`, in
        creation order (two lists: payments filters one status at a time)."""
        items = await self._list("charges", since_s) + await self._list("reversed_charges", since_s)
        return sorted((charge_of(item) for item in items), key=lambda charge: charge.created_s)

    async def get_charge(self, charge_id: str) -> Charge | None:
        """The charge as it is now (None when payments answers 404)."""
        return await self._read(billing_get_charge(charge_id), charge_of, "charge", charge_id)

    async def get_invoice(self, invoice_id: str) -> Invoice | None:
        """The invoice as it is now (None when billing answers 404)."""
        return await self._read(billing_get_invoice(invoice_id), invoice_of, "invoice", invoice_id)

    async def _read(self, wire: tuple[str, HttpRequest], record_of, what: str, object_id: str):
        system, request = wire
        async with self.session.get(self.urls[system] + request.path) as response:
            payload = await response.json(content_type=None)
            status = response.status
        record = record_of(payload) if status == 200 else None
        self.trace.emit(self.runtime.now(), "billing.read", object_id=object_id,
                        code=record.status if record is not None else "missing")
        if status not in (200, 404):
            raise ErpConnectError(f"{system} get {what} {object_id} answered {status}: {payload}")
        return record


def _fields(record_type, item: dict[str, Any]) -> dict[str, Any]:
    return {name: item[name] for name in record_type._fields if name in item}


def customer_of(item: dict[str, Any]) -> Customer:
    """A customer object of the billing API as the canonical record."""
    fields = _fields(Customer, item)
    fields["address"] = Address(**fields["address"])
    return Customer(**fields)


def invoice_of(item: dict[str, Any]) -> Invoice:
    """An invoice object of the billing API as the canonical record."""
    fields = _fields(Invoice, item)
    fields["lines"] = tuple(InvoiceLine(**line) for line in fields["lines"])
    return Invoice(**fields)


def charge_of(item: dict[str, Any]) -> Charge:
    """A charge object of the payments API as the canonical record."""
    return Charge(**_fields(Charge, item))
