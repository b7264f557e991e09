"""The fakes' HTTP apps: each answers like the system it models (NetSuite, Stripe, Salesforce
error shapes), and the fault gate carries out call-fault decisions."""

from __future__ import annotations

import asyncio
import json

import pytest

from rehearse.fakes.asgi_client import call, request
from rehearse.fakes.http import DROPPED, NO_FAULT, FaultAnswer, FaultGate, retry_after_header
from rehearse.sim.faults import ConcurrencyCap, FaultPlan, Maintenance, ReplyLost, Throttle, Window
from rehearse.sim.http_faults import LiveClock, PlanCallFaults
from rehearse.sim.scenario import load
from rehearse.sim.seeds import stream
from rehearse.sim.served import ServedFakes

START = "2026-01-31T00:00:00Z"


@pytest.fixture()
def fakes() -> ServedFakes:
    scenario, _ = load("smoke")
    return ServedFakes(scenario, 1, clock=LiveClock(scenario.run.start_s), erp_latency=False)


def _customer(external_id: str = "cus_1", entity: str = "US01", currency: str = "USD") -> dict:
    return {"external_id": external_id, "source_id": external_id, "entity": entity, "currency": currency,
            "amount_minor": 0, "tran_date_s": 1769817600.0, "posting_period": "2026-01", "name": "Acme"}


def test_erp_creates_reads_and_refuses_like_netsuite(fakes: ServedFakes) -> None:
    erp = fakes.apps["erp"]
    created = request(erp, "POST", "/record/v1/customer", json_body=_customer())
    assert created.status == 201 and created.body == {"id": "1001"}
    assert request(erp, "POST", "/record/v1/customer", json_body=_customer()).status == 200  # upsert
    by_eid = request(erp, "GET", "/record/v1/customer/eid:cus_1")
    assert by_eid.status == 200 and by_eid.body["id"] == "1001" and by_eid.body["status"] == "active"
    assert request(erp, "GET", "/record/v1/customer/1001").body["external_id"] == "cus_1"
    missing = request(erp, "GET", "/record/v1/invoice/eid:in_9")
    assert missing.status == 404 and missing.body["error"]["code"] == "RCRD_DSNT_EXIST"
    orphan = request(erp, "POST", "/record/v1/payment", json_body={**_customer("ch_1"), "parent_id": "in_9",
                                                                     "amount_minor": 100})
    assert orphan.status == 400 and orphan.body["error"]["code"] == "INVALID_KEY_OR_REF"


def test_erp_takes_a_customer_without_a_period_but_no_transaction(fakes: ServedFakes) -> None:
    """A customer is master data, booked in no period: it may leave `posting_period` out. A
    transaction may not: NetSuite's INVALID_FLD_VALUE, and nothing is recorded."""
    erp = fakes.apps["erp"]
    customer = {key: value for key, value in _customer().items() if key != "posting_period"}
    assert request(erp, "POST", "/record/v1/customer", json_body=customer).status == 201
    assert request(erp, "GET", "/record/v1/customer/eid:cus_1").body["posting_period"] == ""
    invoice = {**customer, "external_id": "in_1", "source_id": "in_1", "parent_id": "cus_1", "amount_minor": 100,
               "lines": [{"description": "Starter", "kind": "subscription", "amount_minor": 100, "tax_minor": 0,
                          "period_start_s": 1769904000.0, "period_end_s": 1772323200.0}],
               "journal": [{"account": "1100 Accounts Receivable", "debit_minor": 100, "credit_minor": 0},
                           {"account": "2400 Deferred Revenue", "debit_minor": 0, "credit_minor": 100}]}
    refused = request(erp, "POST", "/record/v1/invoice", json_body=invoice)
    assert refused.status == 400 and refused.body["error"]["code"] == "INVALID_FLD_VALUE"
    assert "posting period" in refused.body["error"]["message"]
    assert request(erp, "GET", "/record/v1/invoice/eid:in_1").status == 404
    posted = request(erp, "POST", "/record/v1/invoice", json_body={**invoice, "posting_period": "2026-02"})
    assert posted.status == 201, posted.body
    empty = request(erp, "POST", "/record/v1/customer", json_body={**customer, "posting_period": ""})
    assert empty.status == 400 and "posting_period" in empty.body["error"]["message"]  # left out, not blank


def test_erp_takes_and_reads_a_payment_reversal(fakes: ServedFakes) -> None:
    """A returned bank debit reverses its ERP payment over HTTP as in process (the HTTP app once
    refused the record type, so live runs with ACH returns sent every reversal to the exception queue)."""
    from rehearse.sim.erp_wire import erp_post
    from rehearse.sync import rules
    from rehearse.sync.model import Address, Charge, Customer, Invoice, InvoiceLine

    customer = Customer("cus_1", "US01", "USD", "Acme", "ap@acme.test",
                        Address("1 Market St", "San Francisco", "CA", "94105", "US"), 1769817600.0)
    line = InvoiceLine("Starter", "subscription", 1000, 0, 1769904000.0, 1772323200.0)
    invoice = Invoice("in_1", "cus_1", "sub_1", "US01", "USD", "paid", (line,), 1000, 0, 1000, 0, 1769904000.0,
                      1769904000.0)
    charge = Charge("ch_1", "in_1", "cus_1", "US01", "USD", 1000, "reversed", "R01", 1769904000.0, "ach_debit",
                    1770336000.0)
    erp = fakes.apps["erp"]
    for document in (rules.customer_document(customer), rules.invoice_document(invoice),
                     rules.payment_document(charge), rules.reversal_document(charge)):
        wire = erp_post(document)
        answer = request(erp, wire.method, wire.path, json_body=wire.body)
        assert answer.status == 201, (document.doc_type, answer.body)
    reversal = request(erp, "GET", f"/record/v1/reversal/eid:{rules.external_id('reversal', 'ch_1')}")
    assert reversal.status == 200 and reversal.body["type"] == "reversal" and reversal.body["amount_minor"] == 1000
    assert request(erp, "GET", "/record/v1/invoice/eid:in_1").body["open_minor"] == 1000  # owed again


def test_erp_malformed_body_is_a_netsuite_400_naming_the_field(fakes: ServedFakes) -> None:
    erp = fakes.apps["erp"]
    wrong_type = request(erp, "POST", "/record/v1/invoice", json_body={**_customer(), "amount_minor": "12"})
    assert wrong_type.status == 400
    assert wrong_type.body["error"]["code"] == "INVALID_FLD_VALUE"
    assert "amount_minor" in wrong_type.body["error"]["message"]
    not_json = request(erp, "POST", "/record/v1/invoice", raw=b"{not json")
    assert not_json.status == 400 and not_json.body["error"]["code"] == "INVALID_FLD_VALUE"
    unknown_type = request(erp, "POST", "/record/v1/journal", json_body=_customer())
    assert unknown_type.status == 400
    wrong_method = request(erp, "DELETE", "/record/v1/customer")
    assert wrong_method.status == 405 and wrong_method.headers["allow"] == "POST"


@pytest.mark.parametrize("number", ["Infinity", "NaN", "1e400"])
def test_erp_refuses_a_number_that_is_not_finite_naming_the_field(fakes: ServedFakes, number: str) -> None:
    """Python's JSON reader takes Infinity, NaN and an overflowing 1e400 (as inf): none is a date."""
    erp = fakes.apps["erp"]
    raw = json.dumps(_customer()).replace("1769817600.0", number).encode()
    answer = request(erp, "POST", "/record/v1/customer", raw=raw)
    assert answer.status == 400 and answer.body["error"]["code"] == "INVALID_FLD_VALUE"
    assert answer.body["error"]["message"] == "tran_date_s: Input should be a finite number"
    assert request(erp, "GET", "/record/v1/customer/eid:cus_1").status == 404  # nothing was recorded


async def _exchange(app, method: str, path: str, content_type: bytes, body: bytes = b"") -> tuple:
    """One request with this content type: (status, headers, body bytes) exactly as sent."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1234),
             "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]}
    chunks = [{"type": "http.request", "body": body[:7], "more_body": True},
              {"type": "http.request", "body": body[7:], "more_body": False}]
    sent: list[dict] = []

    async def receive() -> dict:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return (sent[0]["status"], sent[0]["headers"], b"".join(m.get("body", b"") for m in sent[1:]))


def test_erp_direct_path_answers_exactly_as_the_framework(monkeypatch: pytest.MonkeyPatch) -> None:
    """Well-formed creates and reads skip FastAPI's routing; the same calls through the framework
    alone (the direct path switched off) get the same bytes."""
    from fastapi import FastAPI

    from rehearse.fakes.erp.app import _ErpApp

    framework_calls = []
    original = FastAPI.__call__

    async def counted(self, scope, receive, send):
        framework_calls.append(scope["path"])
        return await original(self, scope, receive, send)

    monkeypatch.setattr(FastAPI, "__call__", counted)
    customer = json.dumps(_customer()).encode()
    orphan = json.dumps({**_customer("ch_1"), "parent_id": "in_9", "amount_minor": 100}).encode()
    calls = [("POST", "/record/v1/customer", customer), ("POST", "/record/v1/customer", customer),
             ("GET", "/record/v1/customer/eid:cus_1", b""), ("GET", "/record/v1/customer/1001", b""),
             ("GET", "/record/v1/invoice/eid:in_9", b""), ("POST", "/record/v1/payment", orphan)]

    def answers() -> list[tuple]:
        scenario, _ = load("smoke")
        erp = ServedFakes(scenario, 1, clock=LiveClock(scenario.run.start_s), erp_latency=False).apps["erp"]
        return [asyncio.run(_exchange(erp, method, path, b"application/json", body)) for method, path, body in calls]

    direct = answers()
    assert framework_calls == []
    assert [status for status, _, _ in direct] == [201, 200, 200, 200, 404, 400]
    # Not well-formed: the framework answers (a strict model refuses a string amount; a bad id).
    scenario, _ = load("smoke")
    erp = ServedFakes(scenario, 1, clock=LiveClock(scenario.run.start_s), erp_latency=False).apps["erp"]
    bad = json.dumps({**_customer(), "amount_minor": "12"}).encode()
    status, _, body = asyncio.run(_exchange(erp, "POST", "/record/v1/invoice", b"application/json", bad))
    assert status == 400 and b"amount_minor" in body and framework_calls == ["/record/v1/invoice"]
    status, _, _ = asyncio.run(_exchange(erp, "GET", "/record/v1/customer/abc", b"application/json"))
    assert status == 400 and framework_calls[-1] == "/record/v1/customer/abc"
    monkeypatch.setattr(_ErpApp, "__call__", counted)
    framework_calls.clear()
    assert answers() == direct
    assert len(framework_calls) == len(calls)


def test_erp_concurrency_cap_answers_429_with_retry_after(fakes: ServedFakes) -> None:
    scenario, _ = load("smoke", ["erp.concurrency_limit=1"])
    slow = ServedFakes(scenario, 1, clock=LiveClock(scenario.run.start_s, speedup=1000.0))  # latency on

    async def two_at_once():
        return await asyncio.gather(
            call(slow.apps["erp"], "POST", "/record/v1/customer", json_body=_customer("cus_1")),
            call(slow.apps["erp"], "POST", "/record/v1/customer", json_body=_customer("cus_2")))

    statuses = sorted(answer.status for answer in asyncio.run(two_at_once()))
    assert statuses == [201, 429]
    rejected = next(a for a in asyncio.run(two_at_once()) if a.status == 429)
    assert rejected.body["error"]["code"] == "SSS_REQUEST_LIMIT_EXCEEDED"
    assert int(rejected.headers["retry-after"]) >= 1


def test_billing_speaks_stripe(fakes: ServedFakes) -> None:
    billing = fakes.apps["billing"]
    customer = request(billing, "POST", "/v1/customers", json_body={
        "entity": "US01", "currency": "USD", "name": "Acme",
        "address": {"postal_code": "73301", "region": "TX", "country": "US"}})
    assert customer.status == 200 and customer.body["object"] == "customer"
    subscription = request(billing, "POST", "/v1/subscriptions",
                           json_body={"customer": customer.body["id"], "price": "starter:USD"})
    assert subscription.status == 200 and subscription.body["status"] in ("active", "incomplete")
    invoices = request(billing, "GET", "/v1/invoices", query={"finalized_gte": 0, "limit": 1})
    assert invoices.body["object"] == "list" and invoices.body["data"][0]["total_minor"] > 0
    assert [event.type for event in fakes.events_published][:3] == [
        "customer.created", "customer.subscription.created", "invoice.created"]
    missing = request(billing, "POST", "/v1/subscriptions", json_body={"customer": "cus_404", "price": "starter:USD"})
    assert missing.status == 400
    assert missing.body["error"] == {"type": "invalid_request_error", "code": "resource_missing",
                                     "message": "No such customer: 'cus_404'", "param": "customer"}
    wrong_currency = request(billing, "POST", "/v1/subscriptions",
                             json_body={"customer": customer.body["id"], "price": "starter:EUR"})
    assert wrong_currency.status == 400 and wrong_currency.body["error"]["code"] == "currency_mismatch"


def test_payments_reads_and_lists_a_returned_bank_debit(fakes: ServedFakes) -> None:
    """A reversed charge could not be answered (its status was outside the response model: 500),
    and over HTTP gap-fill could not list reversed charges at all."""
    from rehearse.sync.model import Charge

    fakes.payments.charges["ch_1"] = Charge("ch_1", "in_1", "cus_1", "US01", "USD", 1250, "succeeded", "", 100.0,
                                            "ach_debit")
    fakes.payments.charges["ch_2"] = Charge("ch_2", "in_2", "cus_1", "US01", "USD", 900, "reversed", "R01", 50.0,
                                            "ach_debit", 400.0)
    payments = fakes.apps["payments"]
    read = request(payments, "GET", "/v1/charges/ch_2")
    assert read.status == 200
    assert (read.body["status"], read.body["method"], read.body["reversed_s"]) == ("reversed", "ach_debit", 400.0)
    listed = request(payments, "GET", "/v1/charges", query={"status": "reversed", "reversed_gte": 300})
    assert [item["id"] for item in listed.body["data"]] == ["ch_2"]
    assert request(payments, "GET", "/v1/charges", query={"status": "reversed", "reversed_gte": 500}).body["data"] == []
    assert request(payments, "GET", "/v1/charges/ch_1").body["reversed_s"] == 0.0


@pytest.mark.parametrize(("system", "path", "parameter", "value"), [
    ("billing", "/v1/customers", "created_gte", "nan"),
    ("billing", "/v1/invoices", "finalized_gte", "inf"),
    ("payments", "/v1/charges", "created_gte", "-inf"),
])
def test_a_list_filter_that_is_not_finite_is_a_stripe_400_naming_it(
        fakes: ServedFakes, system: str, path: str, parameter: str, value: str) -> None:
    answer = request(fakes.apps[system], "GET", path, query={parameter: value})
    assert answer.status == 400
    assert answer.body["error"]["code"] == "parameter_invalid" and answer.body["error"]["param"] == parameter


def test_billing_refuses_a_price_change_it_cannot_make_naming_why(fakes: ServedFakes) -> None:
    billing = fakes.apps["billing"]
    customer = request(billing, "POST", "/v1/customers", json_body={
        "entity": "US01", "currency": "USD", "name": "Acme",
        "address": {"postal_code": "73301", "region": "TX", "country": "US"}}).body["id"]
    subscription = request(billing, "POST", "/v1/subscriptions",
                           json_body={"customer": customer, "price": "starter:USD"}).body["id"]

    def change(**body):
        return request(billing, "POST", f"/v1/subscriptions/{subscription}", json_body=body).body["error"]

    assert change(price="nope:USD") == {"type": "invalid_request_error", "code": "resource_missing",
                                        "message": "No such price: 'nope:USD'", "param": "price"}
    assert change(price="growth:EUR")["code"] == "price_incompatible"  # another currency
    assert change(price="starter-annual:USD")["code"] == "price_incompatible"  # another interval
    canceled = request(billing, "POST", f"/v1/subscriptions/{subscription}", json_body={"cancel_at_period_end": True})
    assert canceled.status == 200
    assert change(price="growth:USD")["code"] == "subscription_canceling"


def test_crm_refuses_a_churn_its_account_cannot_make_and_wins_churned_accounts_back(fakes: ServedFakes) -> None:
    crm = fakes.apps["crm"]
    api = "/services/data/v60.0/sobjects"

    def churn(account_id):
        return request(crm, "PATCH", f"{api}/Account/{account_id}", json_body={"Status__c": "churned"})

    prospect = request(crm, "POST", f"{api}/Account", json_body={"Name": "Acme", "Entity__c": "US01"}).body["id"]
    refused = churn(prospect)  # no deal was ever won
    assert refused.status == 400 and refused.body[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert refused.body[0]["fields"] == ["Status__c"]
    assert request(crm, "POST", f"{api}/Opportunity", json_body={"AccountId": prospect,
                                                                  "Price__c": "starter:USD"}).status == 201
    assert churn(prospect).status == 204
    assert churn(prospect).status == 400  # churned already
    won_back = request(crm, "POST", f"{api}/Opportunity", json_body={"AccountId": prospect, "Price__c": "growth:USD"})
    assert won_back.status == 201
    assert request(crm, "GET", f"{api}/Account/{prospect}").body["Status__c"] == "customer"
    unknown = request(crm, "POST", f"{api}/Opportunity", json_body={"AccountId": "001000000000000999",
                                                                     "Price__c": "starter:USD"})
    assert unknown.status == 400 and unknown.body[0]["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"


def test_list_pages_by_starting_after(fakes: ServedFakes) -> None:
    billing = fakes.apps["billing"]
    first = request(billing, "GET", "/v1/prices", query={"limit": 2})
    assert first.body["has_more"] is True and len(first.body["data"]) == 2
    rest = request(billing, "GET", "/v1/prices", query={"limit": 100, "starting_after": first.body["data"][-1]["id"]})
    assert rest.body["has_more"] is False
    ids = [p["id"] for p in first.body["data"] + rest.body["data"]]
    assert ids == list(fakes.prices)
    unknown = request(billing, "GET", "/v1/prices", query={"starting_after": "price_404"})
    assert unknown.status == 400 and unknown.body["error"]["param"] == "starting_after"


def test_tax_refuses_an_address_it_cannot_locate(fakes: ServedFakes) -> None:
    tax = fakes.apps["tax"]
    body = {"currency": "USD", "address": {"postal_code": "733", "country": "US"},
            "line_items": [{"amount_minor": 1000}]}
    refused = request(tax, "POST", "/v1/tax/calculations", json_body=body)
    assert refused.status == 400 and refused.body["error"]["code"] == "customer_tax_location_invalid"
    assert "176" in refused.body["error"]["message"]
    body["address"] = {"postal_code": "73301", "region": "TX", "country": "US"}
    computed = request(tax, "POST", "/v1/tax/calculations", json_body=body)
    assert computed.body["tax_amount_exclusive_minor"] == 63 and computed.body["amount_total_minor"] == 1063


def test_crm_wins_and_amends_deals_with_salesforce_errors(fakes: ServedFakes) -> None:
    crm = fakes.apps["crm"]
    api = "/services/data/v60.0/sobjects"
    account = request(crm, "POST", f"{api}/Account", json_body={"Name": "Acme", "Entity__c": "US01"})
    assert account.status == 201 and account.body["success"] is True
    deal = request(crm, "POST", f"{api}/Opportunity", json_body={"AccountId": account.body["id"],
                                                                  "Price__c": "starter:USD"})
    assert deal.status == 201
    assert request(crm, "PATCH", f"{api}/Opportunity/{deal.body['id']}",
                   json_body={"Price__c": "growth:USD"}).status == 204
    read = request(crm, "GET", f"{api}/Opportunity/{deal.body['id']}")
    assert read.body["Amendments__c"] == 1 and read.body["StageName"] == "Closed Won"
    missing = request(crm, "GET", f"{api}/Account/001000000000000999")
    assert missing.status == 404 and missing.body[0]["errorCode"] == "NOT_FOUND"


class _Fixed:
    def __init__(self, answer: FaultAnswer) -> None:
        self.answer = answer

    def decide(self, system: str, method: str, path: str) -> FaultAnswer:
        return self.answer


def _gated(fakes: ServedFakes, answer: FaultAnswer) -> FaultGate:
    from rehearse.fakes.erp.app import error_body

    return FaultGate(fakes.bare_apps["erp"], system="erp", faults=_Fixed(answer), error_body=error_body)


def test_gate_answers_injected_errors_in_the_system_shape(fakes: ServedFakes) -> None:
    answer = FaultAnswer(status=503, code="SERVICE_UNAVAILABLE", message="maintenance", retry_after_s=120.5)
    refused = request(_gated(fakes, answer), "POST", "/record/v1/customer", json_body=_customer())
    assert refused.status == 503 and refused.headers["retry-after"] == "121"
    assert refused.body == {"error": {"code": "SERVICE_UNAVAILABLE", "message": "maintenance"}}
    assert len(fakes.erp.customers) == 0  # nothing applied


def test_gate_drops_connections_and_loses_replies_after_applying(fakes: ServedFakes) -> None:
    dropped = request(_gated(fakes, FaultAnswer(drop=True)), "POST", "/record/v1/customer", json_body=_customer())
    assert dropped.status == 0 and dropped.returned == DROPPED and len(fakes.erp.customers) == 0
    lost = request(_gated(fakes, FaultAnswer(lose_reply=True)), "POST", "/record/v1/customer", json_body=_customer())
    assert lost.status == 0 and lost.returned == DROPPED
    assert "cus_1" in fakes.erp.customers  # applied: the ambiguous outcome


def test_plan_call_faults_follow_the_catalogue_on_the_live_clock(fakes: ServedFakes) -> None:
    window = Window(start=START, end="2026-01-31T01:00:00Z")
    clock = LiveClock(1769817600.0 + 600.0)  # ten minutes into the window
    plan = FaultPlan([Maintenance(kind="maintenance", window=window)])
    decision = PlanCallFaults(plan, clock=clock, rng=stream(1, "t")).decide("erp", "POST", "/record/v1/customer")
    assert decision.status == 503 and 2990 < decision.retry_after_s <= 3000
    assert PlanCallFaults(plan, clock=LiveClock(1769817600.0 + 3700.0),
                          rng=stream(1, "t")).decide("erp", "GET", "/x") is NO_FAULT
    always = FaultPlan([Throttle(kind="throttle", probability=1.0, retry_after_s=20.0)])
    throttled = PlanCallFaults(always, clock=clock, rng=stream(1, "t")).decide("erp", "POST", "/record/v1/invoice")
    assert (throttled.status, throttled.code, throttled.retry_after_s) == (429, "SSS_REQUEST_LIMIT_EXCEEDED", 20.0)
    lost = FaultPlan([ReplyLost(kind="reply_lost", probability=1.0, timeout_s=30.0)])
    sped_up = PlanCallFaults(lost, clock=LiveClock(1769817600.0, speedup=10.0), rng=stream(1, "t"))
    decision = sped_up.decide("erp", "POST", "/record/v1/invoice")
    assert decision.lose_reply and decision.reply_delay_s == pytest.approx(3.0)
    assert sped_up.decide("billing", "POST", "/v1/customers") is NO_FAULT  # ERP faults strike the ERP only


def test_a_concurrency_cap_ends_when_the_plan_is_emptied(fakes: ServedFakes) -> None:
    """With no fault configured the gate answers at once, and a cap the admin API removed ends."""
    erp = fakes.erp
    base_limit = erp.concurrency_limit
    window = Window(start=START, end="2026-01-31T01:00:00Z")
    capped = PlanCallFaults(FaultPlan([ConcurrencyCap(kind="concurrency_cap", limit=2, window=window)]),
                            clock=LiveClock(1769817600.0 + 600.0), rng=stream(1, "t"), erp=erp)
    assert capped.decide("erp", "POST", "/record/v1/invoice") is NO_FAULT and erp.concurrency_limit == 2
    capped.plan = FaultPlan([])
    assert capped.decide("erp", "POST", "/record/v1/invoice") is NO_FAULT
    assert erp.concurrency_limit == base_limit


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert [retry_after_header(s) for s in (0.2, 1.0, 1.01, 20.0)] == ["1", "1", "2", "20"]
