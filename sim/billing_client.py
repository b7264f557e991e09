"""The engine's billing client in process: lists objects from the billing and payments fakes as
their list APIs do (one call per list, a sampled latency, the 30-day horizon left to the caller),
and reads one charge or invoice as their retrieve APIs do."""

from __future__ import annotations

from rehearse.sim.distributions import LogNormal
from rehearse.sim.erp_wire import HttpRequest, billing_get_charge, billing_get_invoice, billing_list
from rehearse.sync.model import Charge, Customer, Invoice
from rehearse.sync.ports import Runtime


class InProcessBillingClient:
    """`rehearse.sync.ports.BillingClient` over the in-process fakes."""

    def __init__(self, *, runtime: Runtime, billing, payments, latency: LogNormal, trace, contracts=None) -> None:
        self.runtime = runtime
        self.billing = billing
        self.payments = payments
        self.latency = latency
        self.trace = trace
        self.contracts = contracts  # checks each list request against its provider's document

    async def _answer(self, what: str, items: list, since_s: float) -> list:
        if self.contracts is not None:
            system, request = billing_list(what, since_s)
            self.contracts.check(system, *request)
        latency_s = self.latency.sample_s()
        await self.runtime.sleep(latency_s)
        self.trace.emit(self.runtime.now(), "billing.listed", code=what, value=float(len(items)))
        return items

    async def list_customers(self, since_s: float) -> list[Customer]:
        """Customers created at or after `since_s`."""
        return await self._answer("customers",
                                  [c for c in self.billing.customers.values() if c.created_s >= since_s], since_s)

    async def list_invoices(self, since_s: float) -> list[Invoice]:
        """Finalized invoices (in any later state) finalized at or after `since_s`."""
        return await self._answer("invoices",
                                  [i for i in self.billing.invoices.values() if i.finalized_s >= since_s], since_s)

    async def list_charges(self, since_s: float) -> list[Charge]:
        """Succeeded charges created, and reversed charges reversed, at or after `since_s` (over HTTP,
        two lists: succeeded by creation, reversed by return)."""
        if self.contracts is not None:
            system, request = billing_list("reversed_charges", since_s)
            self.contracts.check(system, *request)
        return await self._answer("charges", [
            c for c in self.payments.charges.values()
            if (c.status == "succeeded" and c.created_s >= since_s)
            or (c.status == "reversed" and c.reversed_s >= since_s)], since_s)

    async def get_charge(self, charge_id: str) -> Charge | None:
        """The charge as it is now (None when there is no such charge)."""
        return await self._read(billing_get_charge(charge_id), self.payments.charges, charge_id)

    async def get_invoice(self, invoice_id: str) -> Invoice | None:
        """The invoice as it is now (None when there is no such invoice)."""
        return await self._read(billing_get_invoice(invoice_id), self.billing.invoices, invoice_id)

    async def _read(self, wire: tuple[str, HttpRequest], records, object_id: str):
        if self.contracts is not None:
            system, request = wire
            self.contracts.check(system, *request)
        await self.runtime.sleep(self.latency.sample_s())
        record = records.get(object_id)
        self.trace.emit(self.runtime.now(), "billing.read", object_id=object_id,
                        code=record.status if record is not None else "missing")
        return record
