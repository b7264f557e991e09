"""The live ERP client raises exactly what the in-process one raises, for the same answers."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from rehearse.fakes.erp.app import error_body
from rehearse.fakes.http import FaultAnswer, FaultGate
from rehearse.sim.asyncio_runtime import AsyncioRuntime
from rehearse.sim.http_clients import HttpBillingClient, HttpErpClient, new_erp_client
from rehearse.sim.http_faults import LiveClock
from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.scenario import load
from rehearse.sim.served import ServedFakes
from rehearse.sim.serving import serving
from rehearse.sync.errors import ErpConnectError, ErpError, ErpTimeout
from rehearse.sync.model import Charge, ErpDocument, Invoice, InvoiceLine

CUSTOMER = ErpDocument("customer", "cus_1", "cus_1", "", "US01", "USD", 0, 0, 1769817600.0, "2026-01", (), (), "Acme")


class _Fixed:
    def __init__(self, answer: FaultAnswer) -> None:
        self.answer = answer

    def decide(self, system: str, method: str, path: str) -> FaultAnswer:
        return self.answer


def _run(answer: FaultAnswer | None, calls):
    scenario, _ = load("smoke")
    fakes = ServedFakes(scenario, 1, clock=LiveClock(scenario.run.start_s), erp_latency=False)
    app = fakes.bare_apps["erp"] if answer is None else FaultGate(
        fakes.bare_apps["erp"], system="erp", faults=_Fixed(answer), error_body=error_body)

    async def main():
        runtime = AsyncioRuntime(scenario.run.start_s)
        connections = new_erp_client()
        try:
            async with serving(app) as url:
                client = HttpErpClient(url, runtime=runtime, client=connections, trace=TraceRecorder())
                return await calls(client), fakes.erp
        finally:
            await connections.close()

    return asyncio.run(main())


def test_created_duplicate_and_lookup() -> None:
    async def calls(client):
        internal_id = await client.post(CUSTOMER)
        found = await client.lookup("customer", "cus_1")
        missing = await client.lookup("invoice", "in_404")
        with pytest.raises(ErpError) as refused:
            await client.post(CUSTOMER._replace(doc_type="invoice", parent_id="cus_404"))
        return internal_id, found, missing, refused.value

    (internal_id, found, missing, refused), _ = _run(None, calls)
    assert internal_id == found == "1001" and missing is None
    assert (refused.status, refused.code) == (400, "INVALID_KEY_OR_REF")


def test_throttle_is_an_erp_error_with_retry_after() -> None:
    async def calls(client):
        with pytest.raises(ErpError) as raised:
            await client.post(CUSTOMER)
        return raised.value

    error, erp = _run(FaultAnswer(status=429, code="SSS_REQUEST_LIMIT_EXCEEDED", message="x", retry_after_s=7.0),
                      calls)
    assert (error.status, error.code, error.retry_after_s) == (429, "SSS_REQUEST_LIMIT_EXCEEDED", 7.0)
    assert len(erp.customers) == 0


def test_lost_reply_is_a_timeout_after_the_erp_applied_it() -> None:
    async def calls(client):
        with pytest.raises(ErpTimeout):
            await client.post(CUSTOMER)

    _, erp = _run(FaultAnswer(lose_reply=True), calls)
    assert "cus_1" in erp.customers  # the ambiguous outcome: applied, never answered


def test_nobody_listening_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free, and nobody listens once the socket closes

    async def main():
        connections = new_erp_client()
        try:
            client = HttpErpClient(f"http://127.0.0.1:{port}", runtime=AsyncioRuntime(0.0), client=connections,
                                   trace=TraceRecorder())
            with pytest.raises(ErpConnectError):
                await client.post(CUSTOMER)
        finally:
            await connections.close()

    asyncio.run(main())


def test_the_billing_client_rereads_a_charge_or_says_there_is_none() -> None:
    scenario, _ = load("smoke")
    fakes = ServedFakes(scenario, 1, clock=LiveClock(scenario.run.start_s), erp_latency=False)
    charge = Charge("ch_1", "in_1", "cus_1", "US01", "USD", 1250, "reversed", "R01", 1769817600.0, "ach_debit",
                    1770076800.0)
    fakes.payments.charges["ch_1"] = charge
    broken = FaultGate(fakes.bare_apps["payments"], system="payments",
                       faults=_Fixed(FaultAnswer(status=503, code="SERVICE_UNAVAILABLE")), error_body=error_body)

    async def main():
        runtime = AsyncioRuntime(scenario.run.start_s)
        async with aiohttp.ClientSession() as session:
            async with serving(fakes.bare_apps["payments"]) as url:
                client = HttpBillingClient(billing_url=url, payments_url=url, runtime=runtime, session=session,
                                           trace=TraceRecorder())
                answers = await client.get_charge("ch_1"), await client.get_charge("ch_404")
            async with serving(broken) as url:
                client = HttpBillingClient(billing_url=url, payments_url=url, runtime=runtime, session=session,
                                           trace=TraceRecorder())
                with pytest.raises(ErpConnectError, match="get charge ch_1 answered 503"):
                    await client.get_charge("ch_1")
        return answers

    assert asyncio.run(main()) == (charge, None)


def test_the_billing_client_rereads_an_invoice_with_the_times_it_was_reopened() -> None:
    scenario, _ = load("smoke")
    fakes = ServedFakes(scenario, 1, clock=LiveClock(scenario.run.start_s), erp_latency=False)
    line = InvoiceLine("Pro plan", "subscription", 1000, 80, 1769817600.0, 1772236800.0)
    reopened = Invoice("in_1", "cus_1", "sub_1", "US01", "USD", "uncollectible", (line,), 1000, 80, 1080, 0,
                       1769814000.0, 1769817600.0, reopened=1)
    fakes.billing.invoices["in_1"] = reopened

    async def main():
        runtime = AsyncioRuntime(scenario.run.start_s)
        async with aiohttp.ClientSession() as session, serving(fakes.bare_apps["billing"]) as url:
            client = HttpBillingClient(billing_url=url, payments_url=url, runtime=runtime, session=session,
                                       trace=TraceRecorder())
            return await client.get_invoice("in_1"), await client.get_invoice("in_404")

    assert asyncio.run(main()) == (reopened, None)
