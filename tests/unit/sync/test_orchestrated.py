"""Unit tests of the orchestrated engine in virtual time: each defence of DOMAIN.md section 8, and
what switching each one off costs.

The engine runs under `SimPyRuntime` against the real ERP fake, either through `InProcessErpClient`
or through `ScriptedErpClient` below when a test needs an exact sequence of failures.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import polars as pl
import simpy

from rehearse.fakes.erp import Erp
from rehearse.sim.distributions import LogNormal
from rehearse.sim.erp_client import InProcessErpClient
from rehearse.sim.faults import FaultPlan, ReplyLost
from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.simpy_runtime import SimPyRuntime
from rehearse.sync import rules
from rehearse.sync.decisions import RetryPolicy
from rehearse.sync.errors import ErpConnectError, ErpError, ErpTimeout
from rehearse.sync.model import (
    Address, Charge, Customer, ErpDocument, Event, Invoice, InvoiceLine, period_of,
)
from rehearse.sync.orchestrated import EngineSettings, OrchestratedEngine
from rehearse.sync.store import EXCEPTION, HELD, POSTED, MemoryStore

START_S = 1_770_000_000.0  # 2026-02-02T02:40:00Z
ENTITIES = {"US01": "USD", "EU01": "EUR"}
LATENCY_S = 0.2  # every scripted ERP call takes this long
DRAIN_S = 3600.0

BEFORE = "before"  # raise without applying anything
AFTER = "after"  # apply, then raise: the reply was lost


# -- the scripted ERP client ----------------------------------------------------------------------


class ScriptedErpClient:
    """`ErpClient` over the ERP fake with a fixed latency; scripted failures come first.

    `script` maps (doc_type, source_id) to a list of (BEFORE | AFTER, error) steps, consumed one per
    post of that document. Records every post and lookup and the most calls ever in flight.
    """

    def __init__(self, runtime: SimPyRuntime, erp: Erp, script: dict[tuple[str, str], list] | None = None) -> None:
        self.runtime = runtime
        self.erp = erp
        self.script = {key: list(steps) for key, steps in (script or {}).items()}
        self.posts: list[tuple[float, ErpDocument]] = []
        self.lookups: list[tuple[float, str, str | None]] = []
        self.in_flight = 0
        self.in_flight_max = 0

    def _enter(self) -> None:
        self.in_flight += 1
        self.in_flight_max = max(self.in_flight_max, self.in_flight)

    async def post(self, document: ErpDocument) -> str:
        started_s = self.runtime.now()
        self.posts.append((started_s, document))
        self._enter()
        try:
            await self.runtime.sleep(LATENCY_S)
            steps = self.script.get((document.doc_type, document.source_id))
            when, error = steps.pop(0) if steps else (None, None)
            if when == BEFORE:
                raise error
            response = self.erp.post(document, self.runtime.now(), started_s)
        finally:
            self.in_flight -= 1
        if response.status >= 400:
            raise ErpError(response.status, response.code, response.message, response.retry_after_s)
        if when == AFTER:
            raise error
        return response.internal_id

    async def lookup(self, doc_type: str, external_id: str) -> str | None:
        self._enter()
        try:
            await self.runtime.sleep(LATENCY_S)
            response = self.erp.lookup(doc_type, external_id)
        finally:
            self.in_flight -= 1
        internal_id = response.internal_id if response.status == 200 else None
        self.lookups.append((self.runtime.now(), external_id, internal_id))
        return internal_id

    def posted(self, doc_type: str) -> list[ErpDocument]:
        return [document for _, document in self.posts if document.doc_type == doc_type]


class SlowBilling:
    """Billing's list APIs with nothing created, each answer taking a second."""

    def __init__(self, runtime: SimPyRuntime) -> None:
        self.runtime = runtime

    async def _empty(self) -> list:
        await self.runtime.sleep(1.0)
        return []

    def list_customers(self, since_s: float):
        return self._empty()

    def list_invoices(self, since_s: float):
        return self._empty()

    def list_charges(self, since_s: float):
        return self._empty()

    async def get_invoice(self, invoice_id: str) -> Invoice | None:
        await self.runtime.sleep(1.0)
        return None  # nothing created: "as the events say"


# -- a small world: one engine, one ERP, one clock ------------------------------------------------


class Harness:
    """An engine wired to the ERP fake on a SimPy clock starting at `START_S`."""

    def __init__(
        self, *, settings: EngineSettings = EngineSettings(), script: dict | None = None, scripted: bool = True,
        erp_concurrency_limit: int = 5, reply_lost_probability: float = 0.0, seed: int = 7,
        billing: Callable[[SimPyRuntime], Any] | None = None,
    ) -> None:
        self.env = simpy.Environment(initial_time=START_S)
        self.runtime = SimPyRuntime(self.env)
        self.trace = TraceRecorder()
        self.erp = Erp(entities=ENTITIES, concurrency_limit=erp_concurrency_limit, trace=self.trace)
        if scripted:
            self.client: Any = ScriptedErpClient(self.runtime, self.erp, script)
        else:
            self.client = InProcessErpClient(
                runtime=self.runtime, erp=self.erp, latency=LogNormal(120, 400, random.Random(seed)),
                rng=random.Random(seed + 1), trace=self.trace,
                faults=FaultPlan([ReplyLost(kind="reply_lost", probability=reply_lost_probability)]))
        self.store = MemoryStore()
        self.engine = OrchestratedEngine(runtime=self.runtime, erp=self.client, store=self.store,
                                         trace=self.trace, random=random.Random(seed + 2), settings=settings,
                                         billing=billing(self.runtime) if billing else None)
        self.engine.start()

    def deliver(self, event: Event, after_s: float = 0.0) -> None:
        self.runtime.call_later(after_s, self.engine.receive, event)

    def run(self, seconds: float = DRAIN_S) -> None:
        self.env.run(until=self.env.now + seconds)

    def preload(self, *documents: ErpDocument) -> None:
        """Documents already in the ERP and known to the engine (the existing book)."""
        for document in documents:
            if document.doc_type == "customer":
                internal_id = self.erp.preload_customer(document)
            else:
                response = self.erp.post(document, START_S - 86400.0)
                assert response.ok, response
                internal_id = response.internal_id
            self.store.mark_posted_before(document, internal_id)

    def records(self, kind: str) -> pl.DataFrame:
        return self.trace.frame().filter(pl.col("kind") == kind)

    def state(self, external_id: str) -> str:
        return self.store.postings[external_id].state


# -- the book: built from sync.model types directly -----------------------------------------------


def customer(customer_id: str = "cus_1", entity: str = "US01", currency: str = "USD") -> Customer:
    address = Address("1 Main St", "Springfield", "CA", "90001", "US")
    return Customer(customer_id, entity, currency, f"Customer {customer_id}", f"{customer_id}@example.test",
                    address, START_S - 86400.0)


def invoice(invoice_id: str = "in_1", customer_id: str = "cus_1", status: str = "open", *,
            amount_minor: int = 10_000, tax_minor: int = 800, finalized_s: float = START_S,
            entity: str = "US01", currency: str = "USD") -> Invoice:
    line = InvoiceLine("Pro plan", "subscription", amount_minor, tax_minor, finalized_s, finalized_s + 30 * 86400.0)
    total_minor = amount_minor + tax_minor
    paid_minor = total_minor if status == "paid" else 0
    return Invoice(invoice_id, customer_id, "sub_1", entity, currency, status, (line,), amount_minor, tax_minor,
                   total_minor, paid_minor, finalized_s - 3600.0, finalized_s)


def charge(charge_id: str = "ch_1", invoice_id: str = "in_1", customer_id: str = "cus_1",
           amount_minor: int = 10_800) -> Charge:
    return Charge(charge_id, invoice_id, customer_id, "US01", "USD", amount_minor, "succeeded", "", START_S + 5.0)


def event(event_id: str, event_type: str, data: Any, created_s: float = START_S) -> Event:
    return Event(event_id, event_type, created_s, data)


def customer_created(customer_id: str = "cus_1") -> Event:
    return event(f"evt_{customer_id}", "customer.created", customer(customer_id))


def invoice_finalized(invoice_id: str = "in_1", customer_id: str = "cus_1", **changes: Any) -> Event:
    return event(f"evt_{invoice_id}_fin", "invoice.finalized", invoice(invoice_id, customer_id, **changes))


def invoice_paid(invoice_id: str = "in_1") -> Event:
    return event(f"evt_{invoice_id}_paid", "invoice.paid", invoice(invoice_id, status="paid"), START_S + 5.0)


def charge_succeeded(charge_id: str = "ch_1", invoice_id: str = "in_1") -> Event:
    return event(f"evt_{charge_id}", "charge.succeeded", charge(charge_id, invoice_id), START_S + 5.0)


def preloaded_customer_and_invoice(harness: Harness) -> None:
    harness.preload(rules.customer_document(customer()), rules.invoice_document(invoice()))


# -- ingest: dedupe and ordering ------------------------------------------------------------------


def test_a_duplicate_event_id_is_dropped() -> None:
    harness = Harness()
    harness.deliver(customer_created())
    harness.deliver(customer_created(), after_s=10.0)
    harness.run()
    assert harness.records("engine.duplicate_dropped")["object_id"].to_list() == ["evt_cus_1"]
    assert len(harness.client.posts) == 1


def test_the_receiver_acknowledges_every_delivery_including_duplicates() -> None:
    harness = Harness()
    assert harness.engine.receive(customer_created())
    assert harness.engine.receive(customer_created())
    harness.run()


def test_ignored_event_types_post_nothing() -> None:
    harness = Harness()
    harness.deliver(event("evt_draft", "invoice.created", invoice(status="draft", finalized_s=0.0)))
    harness.deliver(event("evt_unknown", "customer.discount.created", customer()))
    harness.run()
    assert harness.records("engine.ignored")["code"].to_list() == ["invoice.created", "customer.discount.created"]
    assert harness.client.posts == []


def test_paid_before_finalized_posts_one_invoice_and_drops_the_late_finalized() -> None:
    harness = Harness()
    harness.deliver(customer_created())
    harness.deliver(invoice_paid(), after_s=1.0)
    harness.deliver(invoice_finalized(), after_s=2.0)
    harness.run()
    assert list(harness.erp.invoices) == ["in_1"]
    assert len(harness.client.posted("invoice")) == 1
    assert harness.records("engine.stale_dropped")["object_id"].to_list() == ["evt_in_1_fin"]


def test_a_payment_before_its_invoice_before_its_customer_is_held_then_posted_in_order() -> None:
    harness = Harness()
    harness.deliver(charge_succeeded())
    harness.deliver(invoice_finalized(), after_s=1.0)
    harness.deliver(customer_created(), after_s=2.0)
    harness.run(1.5)
    assert (harness.state("ch_1"), harness.state("in_1")) == (HELD, HELD)
    harness.run()
    held = harness.records("engine.held")
    assert list(zip(held["object_id"], held["parent_id"])) == [("ch_1", "in_1"), ("in_1", "cus_1")]
    assert [document.doc_type for _, document in harness.client.posts] == ["customer", "invoice", "payment"]
    assert harness.erp.payments["ch_1"].applied_minor == 10_800
    assert harness.records("engine.retry").is_empty()  # no INVALID_KEY_OR_REF round trips


def test_the_hold_index_is_a_fresh_dict_once_every_held_posting_is_released() -> None:
    harness = Harness()
    for index in range(3):
        harness.deliver(charge_succeeded(charge_id=f"ch_{index}"))
    harness.run(0.5)
    assert len(harness.engine.store.waiting["in_1"]) == 3
    grown = harness.engine.store.waiting
    harness.deliver(invoice_finalized(), after_s=1.0)
    harness.deliver(customer_created(), after_s=2.0)
    harness.run()
    assert harness.engine.store.waiting == {} and harness.engine.store.waiting is not grown
    assert len(harness.erp.payments) == 3


# -- posting: duplicates and unknown outcomes -----------------------------------------------------


def test_dup_rcrd_is_resolved_by_lookup() -> None:
    harness = Harness()
    harness.preload(rules.customer_document(customer()))
    existing = harness.erp.post(rules.invoice_document(invoice()), START_S - 60.0)  # there, but unknown to us
    harness.deliver(invoice_finalized())
    harness.run()
    assert harness.state("in_1") == POSTED
    assert harness.store.postings["in_1"].internal_id == existing.internal_id
    assert harness.records("engine.lookup")["code"].to_list() == ["found"]
    assert len(harness.erp.invoices) == 1


def test_dup_rcrd_with_nothing_to_look_up_opens_an_exception() -> None:
    script = {("invoice", "in_1"): [(BEFORE, ErpError(400, "DUP_RCRD", "already exists"))]}
    harness = Harness(script=script)
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized())
    harness.run()
    record = harness.store.exceptions["in_1"]
    assert (record.reason, record.owner) == ("permanent", "ar-operations")
    assert "lookup found nothing" in record.detail


def test_timeout_after_the_erp_applied_is_found_by_lookup_and_not_posted_twice() -> None:
    script = {("invoice", "in_1"): [(AFTER, ErpTimeout("reply lost"))]}
    harness = Harness(script=script)
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized())
    harness.run()
    assert len(harness.client.posted("invoice")) == 1
    assert [(external_id, bool(found)) for _, external_id, found in harness.client.lookups] == [("in_1", True)]
    assert harness.state("in_1") == POSTED
    assert harness.store.postings["in_1"].internal_id == harness.erp.invoices["in_1"].internal_id
    assert harness.records("engine.retry").is_empty()


def test_timeout_before_the_erp_applied_is_looked_up_retried_and_posted_once() -> None:
    script = {("invoice", "in_1"): [(BEFORE, ErpTimeout("no answer"))]}
    harness = Harness(script=script)
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized())
    harness.run()
    assert len(harness.client.posted("invoice")) == 2
    assert harness.records("engine.lookup")["code"].to_list() == ["absent"]
    assert harness.records("engine.retry")["code"].to_list() == ["TIMEOUT"]
    assert list(harness.erp.invoices) == ["in_1"]
    assert harness.store.postings["in_1"].attempts == 2


def test_a_500_that_applied_is_found_by_lookup() -> None:
    script = {("invoice", "in_1"): [(AFTER, ErpError(500, "UNEXPECTED_ERROR", "oops"))]}
    harness = Harness(script=script)
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized())
    harness.run()
    assert harness.records("engine.lookup")["code"].to_list() == ["found"]
    assert len(harness.client.posted("invoice")) == 1


def test_a_failed_lookup_counts_as_absent_and_the_post_is_retried() -> None:
    class FailingLookupClient(ScriptedErpClient):
        async def lookup(self, doc_type: str, external_id: str) -> str | None:
            raise ErpError(429, "SSS_REQUEST_LIMIT_EXCEEDED", "busy", 1.0)

    harness = Harness(script={("invoice", "in_1"): [(BEFORE, ErpTimeout("no answer"))]})
    harness.engine.erp = FailingLookupClient(harness.runtime, harness.erp, harness.client.script)
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized())
    harness.run()
    assert harness.records("engine.lookup")["code"].to_list() == ["absent"]
    assert harness.state("in_1") == POSTED
    assert list(harness.erp.invoices) == ["in_1"]


def test_dup_rcrd_with_a_failed_lookup_is_retried_not_parked() -> None:
    class FlakyLookupClient(ScriptedErpClient):
        failed = False

        async def lookup(self, doc_type: str, external_id: str) -> str | None:
            if not self.failed:
                self.failed = True
                raise ErpTimeout("lookup timed out")
            return await super().lookup(doc_type, external_id)

    harness = Harness()
    harness.engine.erp = FlakyLookupClient(harness.runtime, harness.erp)
    harness.preload(rules.customer_document(customer()))
    harness.erp.post(rules.invoice_document(invoice()), START_S - 60.0)
    harness.deliver(invoice_finalized())
    harness.run()
    assert harness.store.exceptions == {}
    assert harness.state("in_1") == POSTED


# -- posting: throttling, transient and permanent errors ------------------------------------------


def test_429_waits_at_least_retry_after_when_respected() -> None:
    script = {("invoice", "in_1"): [(BEFORE, ErpError(429, "SSS_REQUEST_LIMIT_EXCEEDED", "busy", 30.0))]}
    harness = Harness(script=script)
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized())
    harness.run()
    (delay_s,) = harness.records("engine.retry")["value"].to_list()
    assert delay_s >= 30.0
    first_s, second_s = [t_s for t_s, document in harness.client.posts if document.doc_type == "invoice"]
    assert second_s - (first_s + LATENCY_S) >= 30.0
    assert harness.state("in_1") == POSTED


def test_429_retry_after_is_ignored_when_not_respected() -> None:
    script = {("invoice", "in_1"): [(BEFORE, ErpError(429, "SSS_REQUEST_LIMIT_EXCEEDED", "busy", 30.0))]}
    settings = EngineSettings(retry=RetryPolicy(respect_retry_after=False))
    harness = Harness(script=script, settings=settings)
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized())
    harness.run()
    (delay_s,) = harness.records("engine.retry")["value"].to_list()
    assert delay_s <= 1.0  # the first backoff step of the default policy


def test_503_is_retried_without_a_lookup() -> None:
    script = {("invoice", "in_1"): [(BEFORE, ErpError(503, "SERVICE_UNAVAILABLE", "down"))] * 2}
    harness = Harness(script=script)
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized())
    harness.run()
    assert harness.records("engine.retry")["code"].to_list() == ["SERVICE_UNAVAILABLE"] * 2
    assert harness.records("engine.lookup").is_empty()
    assert harness.state("in_1") == POSTED
    assert harness.store.postings["in_1"].attempts == 3


def test_a_connect_error_is_retried() -> None:
    harness = Harness(script={("invoice", "in_1"): [(BEFORE, ErpConnectError("refused"))]})
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized())
    harness.run()
    assert harness.records("engine.retry")["code"].to_list() == ["CONNECT_ERROR"]
    assert harness.state("in_1") == POSTED


def test_retry_delays_grow() -> None:
    script = {("invoice", "in_1"): [(BEFORE, ErpError(503, "SERVICE_UNAVAILABLE", "down"))] * 4}
    harness = Harness(script=script, settings=EngineSettings(retry=RetryPolicy(jitter_share=0.0)))
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized())
    harness.run()
    assert harness.records("engine.retry")["value"].to_list() == [1.0, 2.0, 4.0, 8.0]


def test_a_permanent_error_opens_an_exception_with_owner_and_reason() -> None:
    script = {("invoice", "in_1"): [(BEFORE, ErpError(400, "INVALID_FLD_VALUE", "bad department"))]}
    harness = Harness(script=script)
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized())
    harness.deliver(charge_succeeded())
    harness.run()
    record = harness.store.exceptions["in_1"]
    assert (record.external_id, record.reason, record.owner) == ("in_1", "permanent", "ar-operations")
    assert record.detail == "INVALID_FLD_VALUE: bad department"
    assert record.opened_s > START_S
    assert harness.state("in_1") == EXCEPTION
    assert harness.state("ch_1") == HELD  # its parent never posted
    assert [posting.document.external_id for posting in harness.engine.unfinished()] == ["ch_1"]
    opened = harness.records("engine.exception_opened")
    assert list(zip(opened["object_id"], opened["code"], opened["detail"])) == [
        ("in_1", "permanent", "ar-operations")]


def test_a_replay_while_the_engine_is_down_is_refused_and_the_exception_stays_open() -> None:
    """A person's replay queued the posting while the process was down, and the restart queued it
    again: two copies, and the second crashed on the document the first had posted and dropped."""
    script = {("invoice", "in_1"): [(BEFORE, ErpError(400, "INVALID_FLD_VALUE", "bad department"))]}
    harness = Harness(script=script)
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized())
    harness.run()
    assert harness.state("in_1") == EXCEPTION
    harness.engine.crash()
    assert harness.engine.replay("in_1") is False
    assert "in_1" in harness.store.exceptions and harness.state("in_1") == EXCEPTION
    harness.engine.restart()
    assert harness.engine.replay("in_1") is True
    harness.run()
    assert harness.state("in_1") == POSTED
    assert [document.source_id for document in harness.client.posted("invoice")] == ["in_1", "in_1"]


def test_a_crash_while_gap_fill_lists_billing_ends_that_pass_quietly() -> None:
    """The gap-fill loop did not catch `EngineCrashed`, so a crash during a listing ended the run."""
    harness = Harness(settings=EngineSettings(gap_fill=True, gap_fill_interval_s=60.0), billing=SlowBilling)
    harness.env.run(until=START_S + 60.5)  # the first pass is waiting for billing's answer
    harness.engine.crash()
    harness.run(600.0)  # the listing returns into a dead process: no exception escapes
    harness.engine.restart()
    harness.run(600.0)
    assert harness.records("engine.gap_filled").height >= 5  # the restarted loop sweeps again


def test_retries_exhausted_opens_an_exception() -> None:
    script = {("invoice", "in_1"): [(BEFORE, ErpError(503, "SERVICE_UNAVAILABLE", "down"))] * 10}
    harness = Harness(script=script, settings=EngineSettings(retry=RetryPolicy(attempts_max=3)))
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized())
    harness.run()
    record = harness.store.exceptions["in_1"]
    assert (record.reason, record.owner) == ("retries_exhausted", "integration-on-call")
    assert record.detail == "3 attempts, last SERVICE_UNAVAILABLE"
    assert len(harness.client.posted("invoice")) == 3


# -- closed periods -------------------------------------------------------------------------------


def test_a_closed_period_reroutes_to_the_next_period_flagged_late_with_its_date_kept() -> None:
    harness = Harness()
    harness.erp.close_period("US01", period_of(START_S), START_S)
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized())
    harness.run()
    posted = harness.erp.invoices["in_1"].document
    assert (posted.posting_period, posted.tran_date_s) == ("2026-03", START_S)
    assert harness.store.postings["in_1"].late
    rerouted = harness.records("engine.rerouted")
    assert list(zip(rerouted["object_id"], rerouted["period"], rerouted["detail"])) == [
        ("in_1", "2026-03", "2026-02")]


def test_several_closed_periods_reroute_to_the_first_open_one() -> None:
    harness = Harness()
    for period in ("2026-02", "2026-03", "2026-04"):
        harness.erp.close_period("US01", period, START_S)
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized())
    harness.run()
    assert harness.erp.invoices["in_1"].document.posting_period == "2026-05"


# -- the concurrency budget -----------------------------------------------------------------------


def test_never_more_requests_in_flight_than_the_concurrency_budget() -> None:
    harness = Harness(settings=EngineSettings(concurrency=3))
    for number in range(12):
        harness.deliver(customer_created(f"cus_{number}"), after_s=number * 0.01)
    harness.run()
    assert harness.client.in_flight_max == 3
    assert len(harness.erp.customers) == 12


class InFlightProbe:
    """Stands in for the ERP fake in front of the client: records the ERP's in-flight count at each
    admitted request; everything else goes to the ERP."""

    def __init__(self, erp: Erp) -> None:
        self.erp = erp
        self.in_flight_seen: list[int] = []

    def begin_request(self):
        rejection = self.erp.begin_request()
        self.in_flight_seen.append(self.erp.in_flight)
        return rejection

    def __getattr__(self, name: str) -> Any:
        return getattr(self.erp, name)


def test_the_budget_holds_against_the_erp_cap_without_a_single_429() -> None:
    harness = Harness(settings=EngineSettings(concurrency=2), scripted=False, erp_concurrency_limit=2)
    probe = harness.client.erp = InFlightProbe(harness.erp)
    for number in range(10):
        harness.deliver(customer_created(f"cus_{number}"))
        harness.deliver(invoice_finalized(f"in_{number}", f"cus_{number}"))
    harness.run()
    assert "429" not in harness.records("erp.call")["code"].to_list()
    assert max(probe.in_flight_seen) == 2
    assert len(harness.erp.invoices) == 10


# -- idle -----------------------------------------------------------------------------------------


def test_idle_only_when_nothing_is_queued_in_flight_or_waiting_to_retry() -> None:
    script = {("invoice", "in_1"): [(BEFORE, ErpError(503, "SERVICE_UNAVAILABLE", "down"))]}
    harness = Harness(script=script, settings=EngineSettings(retry=RetryPolicy(base_s=10.0, jitter_share=0.0)))
    assert harness.engine.idle()
    harness.engine.receive(customer_created())
    harness.engine.receive(invoice_finalized())
    assert not harness.engine.idle()  # queued, not yet taken by a worker
    harness.run(LATENCY_S / 2)
    assert not harness.engine.idle()  # in flight
    harness.run(LATENCY_S * 2)
    assert harness.engine.retry_waiting == 1 and not harness.engine.idle()  # waiting to retry
    harness.run()
    assert harness.engine.idle()
    assert harness.engine.unfinished() == []


def test_idle_with_only_held_postings_which_stay_unfinished() -> None:
    harness = Harness()
    harness.deliver(charge_succeeded())
    harness.run()
    assert harness.engine.idle()
    assert [posting.document.external_id for posting in harness.engine.unfinished()] == ["ch_1"]


# -- each defence switched off shows what it costs ------------------------------------------------


def test_without_dedupe_duplicates_are_processed_again() -> None:
    harness = Harness(settings=EngineSettings(dedupe=False))
    harness.deliver(customer_created())
    harness.deliver(customer_created(), after_s=10.0)
    harness.run()
    assert harness.records("engine.duplicate_dropped").is_empty()
    assert harness.records("engine.received")["object_id"].to_list() == ["evt_cus_1", "evt_cus_1"]


def test_without_dedupe_or_idempotent_posting_a_redelivered_charge_is_posted_twice() -> None:
    # A naive consumer acts on every delivery; without idempotent posting nothing stops the copy.
    harness = Harness(settings=EngineSettings(dedupe=False, idempotent_posting=False))
    preloaded_customer_and_invoice(harness)
    harness.deliver(charge_succeeded())
    harness.deliver(charge_succeeded(), after_s=10.0)
    harness.run()
    assert harness.records("engine.received").height == 2
    assert len(harness.erp.payments) == 2


def test_without_dedupe_idempotent_posting_alone_keeps_a_redelivered_charge_single() -> None:
    harness = Harness(settings=EngineSettings(dedupe=False))
    preloaded_customer_and_invoice(harness)
    harness.deliver(charge_succeeded())
    harness.deliver(charge_succeeded(), after_s=10.0)
    harness.run()
    assert len(harness.erp.payments) == 1
    assert harness.records("engine.lookup").filter(code="found").height == 1  # DUP_RCRD, then lookup


def test_without_dependency_hold_a_child_first_meets_invalid_key_or_ref_retries() -> None:
    harness = Harness(settings=EngineSettings(dependency_hold=False))
    harness.deliver(charge_succeeded())
    harness.deliver(invoice_finalized(), after_s=3.0)
    harness.deliver(customer_created(), after_s=6.0)
    harness.run()
    retries = harness.records("engine.retry")
    assert set(retries["object_id"]) == {"ch_1", "in_1"}
    assert set(retries["code"]) == {"INVALID_KEY_OR_REF"}
    assert harness.records("engine.held").is_empty()
    assert list(harness.erp.payments) == ["ch_1"]  # it converges, at the cost of the retries


def test_without_dependency_hold_a_parent_that_never_comes_ends_as_missing_reference() -> None:
    settings = EngineSettings(dependency_hold=False, retry=RetryPolicy(attempts_max=3))
    harness = Harness(settings=settings)
    harness.deliver(charge_succeeded())
    harness.run()
    record = harness.store.exceptions["ch_1"]
    assert (record.reason, record.owner) == ("missing_reference", "master-data")


def test_without_lookup_before_retry_a_lost_reply_meets_dup_rcrd_then_a_lookup() -> None:
    script = {("invoice", "in_1"): [(AFTER, ErpTimeout("reply lost"))]}
    harness = Harness(script=script, settings=EngineSettings(lookup_before_retry=False))
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized())
    harness.run()
    assert harness.records("engine.retry")["code"].to_list() == ["TIMEOUT"]
    assert len(harness.client.posted("invoice")) == 2  # the second answered DUP_RCRD
    assert harness.records("engine.lookup")["code"].to_list() == ["found"]
    assert list(harness.erp.invoices) == ["in_1"]


def test_without_lookup_before_retry_or_idempotent_posting_a_lost_reply_duplicates() -> None:
    script = {("payment", "ch_1"): [(AFTER, ErpTimeout("reply lost"))]}
    settings = EngineSettings(lookup_before_retry=False, idempotent_posting=False)
    harness = Harness(script=script, settings=settings)
    preloaded_customer_and_invoice(harness)
    harness.deliver(charge_succeeded())
    harness.run()
    assert [payment.document.source_id for payment in harness.erp.payments.values()] == ["ch_1", "ch_1"]
    assert sorted(payment.applied_minor for payment in harness.erp.payments.values()) == [0, 10_800]


def test_without_idempotent_posting_a_lost_reply_duplicates_even_with_lookup() -> None:
    # The lookup searches by an external id the ERP never got, so it finds nothing.
    script = {("payment", "ch_1"): [(AFTER, ErpTimeout("reply lost"))]}
    harness = Harness(script=script, settings=EngineSettings(idempotent_posting=False))
    preloaded_customer_and_invoice(harness)
    harness.deliver(charge_succeeded())
    harness.run()
    assert harness.records("engine.lookup")["code"].to_list() == ["absent"]
    assert len(harness.erp.payments) == 2


def test_without_period_routing_a_closed_period_is_an_exception() -> None:
    harness = Harness(settings=EngineSettings(period_routing=False))
    harness.erp.close_period("US01", period_of(START_S), START_S)
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized())
    harness.run()
    record = harness.store.exceptions["in_1"]
    assert (record.reason, record.owner) == ("closed_period", "gl-accounting")
    assert record.detail.startswith("CLOSED_TRAN_PRD")
    assert harness.erp.invoices == {}


# -- end to end through the in-process client -----------------------------------------------------


def test_voided_and_uncollectible_invoices_are_reversed_and_written_off() -> None:
    harness = Harness(scripted=False)
    harness.deliver(customer_created())
    harness.deliver(invoice_finalized("in_1"))
    harness.deliver(invoice_finalized("in_2"))
    harness.deliver(event("evt_in_1_void", "invoice.voided", invoice("in_1", status="void"), START_S + 60.0), 1.0)
    harness.deliver(event("evt_in_2_unc", "invoice.marked_uncollectible", invoice("in_2", status="uncollectible"),
                          START_S + 60.0), 1.0)
    harness.run()
    assert harness.erp.invoices["in_1"].status == "void"
    assert harness.erp.invoices["in_2"].status == "written_off"
    assert list(harness.erp.voids) == ["in_1:void"]
    assert list(harness.erp.writeoffs) == ["in_2:writeoff"]
    assert sum(harness.erp.gl_balances().values()) == 0


# -- returned bank debits ---------------------------------------------------------------------------


def charge_reversed(charge_id: str = "ch_1", invoice_id: str = "in_1",
                    reversed_s: float = START_S + 3 * 86400.0) -> Event:
    returned = charge(charge_id, invoice_id)._replace(status="reversed", decline_code="R01", reversed_s=reversed_s)
    return event(f"evt_{charge_id}_reversed", "charge.reversed", returned, reversed_s)


def test_a_returned_debit_is_reversed_in_the_erp_after_its_payment_and_the_invoice_reopens() -> None:
    harness = Harness()
    preloaded_customer_and_invoice(harness)
    harness.deliver(charge_reversed())  # the payment's own event was never seen: both get planned
    harness.run()
    assert [document.doc_type for document in harness.client.posted("payment") + harness.client.posted("reversal")] == [
        "payment", "reversal"]
    assert harness.state("ch_1:reversal") == POSTED
    assert harness.erp.invoices["in_1"].status == "open"
    reversal = harness.client.posted("reversal")[0]
    assert reversal.posting_period == period_of(START_S + 3 * 86400.0)
    assert harness.records("engine.held").filter(pl.col("object_id") == "ch_1:reversal").height == 1


def test_a_reopened_invoice_outranks_every_snapshot_from_before_the_return() -> None:
    harness = Harness()
    preloaded_customer_and_invoice(harness)
    reopened = invoice(status="open")._replace(reopened=1)
    uncollectible = reopened._replace(status="uncollectible")
    harness.deliver(event("evt_reopened", "invoice.reopened", reopened, START_S + 3 * 86400.0))
    harness.deliver(invoice_paid(), after_s=1.0)  # late, from before the return: stale
    harness.deliver(event("evt_uncollectible", "invoice.marked_uncollectible", uncollectible,
                          START_S + 20 * 86400.0), after_s=2.0)
    harness.run()
    assert harness.records("engine.stale_dropped")["ref_id"].to_list() == ["in_1"]
    assert harness.state("in_1:writeoff") == POSTED


def test_without_reversal_posting_a_returned_debit_is_ignored() -> None:
    harness = Harness(settings=EngineSettings(post_reversals=False))
    preloaded_customer_and_invoice(harness)
    harness.deliver(charge_succeeded())
    harness.deliver(charge_reversed(), after_s=60.0)
    harness.run()
    assert harness.client.posted("reversal") == []
    assert harness.erp.invoices["in_1"].status == "paid"
    assert harness.records("engine.ignored")["code"].to_list() == ["charge.reversed"]


# -- a second payment before the return of the first (DOMAIN.md 8.2: re-read the object) -----------


class ChargeBook(SlowBilling):
    """Payments' retrieve API over a dict of charges, each answer taking a second; `failures`
    answers first fail with a connect error. Lists are empty (gap-fill is not what these test)."""

    def __init__(self, runtime: SimPyRuntime, charges: dict[str, Charge], failures: int = 0,
                 invoices: dict[str, Invoice] | None = None) -> None:
        super().__init__(runtime)
        self.charges = charges
        self.failures = failures
        self.invoices = invoices or {}
        self.reads: list[str] = []

    async def get_invoice(self, invoice_id: str) -> Invoice | None:
        await self.runtime.sleep(1.0)
        self.reads.append(invoice_id)
        return self.invoices.get(invoice_id)

    async def get_charge(self, charge_id: str) -> Charge | None:
        await self.runtime.sleep(1.0)
        self.reads.append(charge_id)
        if self.failures:
            self.failures -= 1
            raise ErpConnectError("payments unreachable")
        return self.charges.get(charge_id)


def bank_debit(charge_id: str, created_s: float, **changes: Any) -> Charge:
    return charge(charge_id)._replace(method="ach_debit", created_s=created_s, **changes)


RETURNED_S = START_S + 3 * 86400.0
REPAID_S = START_S + 4 * 86400.0
NO_GAP_FILL = EngineSettings(gap_fill=False)


def returned_debit_world(settings: EngineSettings = NO_GAP_FILL, *, returned: bool = True,
                         failures: int = 0) -> Harness:
    """ch_1, a bank debit, paid in_1 and came back; ch_2 paid it again. The engine hears of ch_1,
    then of ch_2, and of ch_1's return only a day after ch_2 (its webhook was late)."""
    ch_1 = bank_debit("ch_1", START_S + 5.0)
    if returned:
        ch_1 = ch_1._replace(status="reversed", decline_code="R01", reversed_s=RETURNED_S)
    book = {"ch_1": ch_1, "ch_2": charge("ch_2")._replace(created_s=REPAID_S)}
    harness = Harness(settings=settings, billing=lambda runtime: ChargeBook(runtime, book, failures))
    preloaded_customer_and_invoice(harness)
    harness.deliver(event("evt_ch_1", "charge.succeeded", bank_debit("ch_1", START_S + 5.0)))
    harness.deliver(event("evt_ch_2", "charge.succeeded", book["ch_2"], REPAID_S), after_s=60.0)
    if returned:
        harness.deliver(event("evt_ch_1_reversed", "charge.reversed", ch_1, RETURNED_S), after_s=86400.0)
    return harness


def test_a_second_payment_waits_for_the_reversal_of_a_returned_debit_it_rereads_first() -> None:
    harness = returned_debit_world()
    harness.run(2 * 86400.0)
    assert harness.engine.billing.reads == ["ch_1"]
    assert harness.records("engine.rechecked")["code"].to_list() == ["reversed"]
    # ch_2 was held on the re-read, then on the reversal the re-read planned
    assert harness.records("engine.held").filter(pl.col("object_id") == "ch_2")["parent_id"].to_list() == [
        "recheck:ch_1", "ch_1:reversal"]
    order = [document.external_id for _, document in harness.client.posts]
    assert order.index("ch_1:reversal") < order.index("ch_2")
    payment = next(p for p in harness.erp.payments.values() if p.document.source_id == "ch_2")
    assert (payment.applied_minor, payment.unapplied_minor) == (10_800, 0)
    assert harness.erp.invoices["in_1"].status == "paid"
    assert harness.state("ch_1:reversal") == POSTED  # the late event finds it planned: no second one
    assert len(harness.client.posted("reversal")) == 1


def test_without_the_reread_the_second_payment_stays_unapplied_and_the_invoice_open() -> None:
    harness = returned_debit_world(NO_GAP_FILL._replace(recheck_bank_debits=False))
    harness.run(2 * 86400.0)
    assert harness.engine.billing.reads == []
    payment = next(p for p in harness.erp.payments.values() if p.document.source_id == "ch_2")
    assert (payment.applied_minor, payment.unapplied_minor) == (0, 10_800)
    assert harness.erp.invoices["in_1"].status == "open"


def test_a_debit_billing_says_was_not_returned_lets_the_second_payment_post_as_an_overpayment() -> None:
    harness = returned_debit_world(returned=False)  # charged twice: ch_2 is cash to give back
    harness.run(2 * 86400.0)
    assert harness.records("engine.rechecked")["code"].to_list() == ["not_reversed"]
    assert harness.store.bank_debits == {}  # forgotten: a third payment would not ask again
    payment = next(p for p in harness.erp.payments.values() if p.document.source_id == "ch_2")
    assert (payment.applied_minor, payment.unapplied_minor) == (0, 10_800)
    assert harness.state("ch_2") == POSTED


def test_a_reread_that_fails_is_retried_with_backoff() -> None:
    harness = returned_debit_world(failures=2)
    harness.run(2 * 86400.0)
    assert harness.engine.billing.reads == ["ch_1", "ch_1", "ch_1"]
    assert harness.records("engine.rechecked")["code"].to_list() == ["reversed"]
    assert harness.erp.invoices["in_1"].status == "paid"


def test_a_reread_that_never_succeeds_lets_the_payment_post_as_the_events_say() -> None:
    settings = NO_GAP_FILL._replace(retry=RetryPolicy(base_s=1.0, cap_s=2.0, attempts_max=3))
    harness = returned_debit_world(settings, failures=99)
    harness.run(2 * 86400.0)
    assert len(harness.engine.billing.reads) == 3
    assert harness.records("engine.rechecked")["code"].to_list() == ["failed"]
    assert harness.state("ch_2") == POSTED


def test_the_engine_is_not_idle_while_it_rereads_billing() -> None:
    harness = returned_debit_world()
    harness.run(60.5)  # ch_2 arrived; the re-read takes a second
    assert harness.engine.rechecking == 1 and not harness.engine.idle()
    harness.run(2.0)
    assert harness.engine.rechecking == 0


def test_a_crash_during_the_reread_asks_again_after_the_restart() -> None:
    harness = returned_debit_world()
    harness.run(60.5)
    harness.engine.crash()
    harness.run(10.0)
    harness.engine.restart()
    harness.run(2 * 86400.0)
    assert harness.engine.billing.reads == ["ch_1", "ch_1"]
    assert harness.records("engine.rechecked")["code"].to_list() == ["reversed"]  # the first answer died
    assert harness.erp.invoices["in_1"].status == "paid"


def test_a_write_off_after_a_return_waits_for_the_reversal() -> None:
    """Dunning after the return failed: the invoice went uncollectible before the engine heard of the return."""
    ch_1 = bank_debit("ch_1", START_S + 5.0, status="reversed", decline_code="R01", reversed_s=RETURNED_S)
    harness = Harness(settings=NO_GAP_FILL, billing=lambda runtime: ChargeBook(runtime, {"ch_1": ch_1}))
    preloaded_customer_and_invoice(harness)
    harness.deliver(event("evt_ch_1", "charge.succeeded", bank_debit("ch_1", START_S + 5.0)))
    uncollectible = invoice(status="uncollectible")._replace(reopened=1)
    harness.deliver(event("evt_unc", "invoice.marked_uncollectible", uncollectible, START_S + 20 * 86400.0),
                    after_s=60.0)
    harness.run(2 * 86400.0)
    assert harness.state("in_1:writeoff") == POSTED
    assert harness.erp.invoices["in_1"].status == "written_off"
    assert harness.store.exceptions == {}


# -- a written-off invoice paid after all (E7) --------------------------------------------------------

WRITTEN_OFF_S = START_S + 14 * 86400.0
RECOVERED_S = START_S + 24 * 86400.0


def written_off_then_paid(settings: EngineSettings = NO_GAP_FILL, *, payment_first: bool = False) -> Harness:
    """in_1 went uncollectible on day 14 and its customer paid it on day 24 (ch_9)."""
    harness = Harness(settings=settings)
    preloaded_customer_and_invoice(harness)
    uncollectible = event("evt_unc", "invoice.marked_uncollectible", invoice(status="uncollectible"), WRITTEN_OFF_S)
    paid = event("evt_paid", "invoice.paid", invoice(status="paid"), RECOVERED_S)
    recovered = event("evt_ch_9", "charge.succeeded", charge("ch_9")._replace(created_s=RECOVERED_S), RECOVERED_S)
    # Each event is delivered when it happened; the uncollectible one late when the payment comes first.
    if payment_first:  # the write-off is planned but not posted when the payment comes
        harness.deliver(uncollectible, after_s=RECOVERED_S - START_S)
        harness.deliver(recovered, after_s=RECOVERED_S - START_S + 0.01)
    else:
        harness.deliver(uncollectible, after_s=WRITTEN_OFF_S - START_S)
        harness.deliver(recovered, after_s=RECOVERED_S - START_S)
    harness.deliver(paid, after_s=RECOVERED_S - START_S + 60.0)
    return harness


def test_a_payment_of_a_written_off_invoice_posts_after_a_recovery_of_the_write_off() -> None:
    harness = written_off_then_paid()
    harness.run(RECOVERED_S - START_S + DRAIN_S)
    order = [document.external_id for _, document in harness.client.posts]
    assert order == ["in_1:writeoff", "in_1:recovery", "ch_9"]
    recovery = harness.client.posted("recovery")[0]
    assert (recovery.parent_id, recovery.amount_minor, recovery.tran_date_s) == ("in_1:writeoff", 10_800, RECOVERED_S)
    record = harness.erp.invoices["in_1"]
    assert (record.status, record.applied_minor) == ("paid", 10_800)
    assert harness.erp.gl_balance("US01", "USD", "6900 Bad Debt Expense") == 0
    assert sum(harness.erp.gl_balances().values()) == 0


def test_a_payment_that_comes_before_the_write_off_is_posted_waits_for_write_off_and_recovery() -> None:
    harness = written_off_then_paid(payment_first=True)
    harness.run(RECOVERED_S - START_S + DRAIN_S)
    order = [document.external_id for _, document in harness.client.posts]
    assert order == ["in_1:writeoff", "in_1:recovery", "ch_9"]
    assert harness.erp.invoices["in_1"].status == "paid"


def test_a_late_event_of_a_charge_older_than_the_write_off_recovers_nothing() -> None:
    """ch_1 was made (and returned) before the write-off; its event only comes now."""
    harness = Harness(settings=NO_GAP_FILL)
    preloaded_customer_and_invoice(harness)
    harness.deliver(event("evt_unc", "invoice.marked_uncollectible", invoice(status="uncollectible"), WRITTEN_OFF_S),
                    after_s=WRITTEN_OFF_S - START_S)
    harness.deliver(charge_succeeded("ch_1"), after_s=WRITTEN_OFF_S - START_S + 60.0)
    harness.run(WRITTEN_OFF_S - START_S + DRAIN_S)
    assert "in_1:recovery" not in harness.store.postings
    assert harness.erp.invoices["in_1"].status == "written_off"


def test_without_recoveries_the_payment_stays_unapplied_and_the_invoice_written_off() -> None:
    harness = written_off_then_paid(NO_GAP_FILL._replace(recover_writeoffs=False))
    harness.run(RECOVERED_S - START_S + DRAIN_S)
    assert harness.client.posted("recovery") == []
    payment = harness.erp.payments["ch_9"]
    assert (payment.applied_minor, payment.unapplied_minor) == (0, 10_800)
    assert harness.erp.invoices["in_1"].status == "written_off"


def test_a_write_off_the_erp_refused_because_the_payment_came_first_is_superseded_by_the_paid_invoice() -> None:
    """The recovery's payment reached the engine before the news of the write-off: the write-off
    meets a paid ERP invoice and is parked; the paid invoice that follows supersedes it."""
    harness = Harness(settings=NO_GAP_FILL)
    preloaded_customer_and_invoice(harness)
    recovered = charge("ch_9")._replace(created_s=RECOVERED_S)
    harness.deliver(event("evt_ch_9", "charge.succeeded", recovered, RECOVERED_S), after_s=RECOVERED_S - START_S)
    harness.deliver(event("evt_unc", "invoice.marked_uncollectible", invoice(status="uncollectible"), WRITTEN_OFF_S),
                    after_s=RECOVERED_S - START_S + 60.0)
    harness.deliver(event("evt_paid", "invoice.paid", invoice(status="paid"), RECOVERED_S),
                    after_s=RECOVERED_S - START_S + 120.0)
    harness.run(RECOVERED_S - START_S + DRAIN_S)
    assert harness.state("in_1:writeoff") == "superseded" and harness.store.exceptions == {}
    assert harness.records("engine.exception_resolved")["code"].to_list() == ["superseded"]
    assert harness.records("engine.superseded")["object_id"].to_list() == ["in_1:writeoff"]
    assert harness.erp.invoices["in_1"].status == "paid" and harness.erp.writeoffs == {}
    assert harness.engine.unfinished() == []


def test_a_write_off_still_retrying_when_the_invoice_is_paid_is_superseded_with_its_recovery() -> None:
    """The write-off waits to retry (503) when the customer pays: neither it nor the recovery
    planned for the payment is ever posted, and the payment settles the invoice."""
    script = {("writeoff", "in_1"): [(BEFORE, ErpError(503, "SERVICE_UNAVAILABLE", "down"))]}
    harness = Harness(settings=NO_GAP_FILL._replace(retry=RetryPolicy(base_s=600.0, cap_s=600.0)), script=script)
    preloaded_customer_and_invoice(harness)
    harness.deliver(event("evt_unc", "invoice.marked_uncollectible", invoice(status="uncollectible"), WRITTEN_OFF_S),
                    after_s=WRITTEN_OFF_S - START_S)
    recovered = charge("ch_9")._replace(created_s=WRITTEN_OFF_S + 10.0)
    harness.deliver(event("evt_ch_9", "charge.succeeded", recovered, WRITTEN_OFF_S + 10.0),
                    after_s=WRITTEN_OFF_S - START_S + 10.0)
    harness.deliver(event("evt_paid", "invoice.paid", invoice(status="paid"), WRITTEN_OFF_S + 10.0),
                    after_s=WRITTEN_OFF_S - START_S + 20.0)
    harness.run(WRITTEN_OFF_S - START_S + DRAIN_S)
    assert (harness.state("in_1:writeoff"), harness.state("in_1:recovery")) == ("superseded", "superseded")
    assert [document.external_id for _, document in harness.client.posts] == ["in_1:writeoff", "ch_9"]
    assert harness.erp.invoices["in_1"].status == "paid"
    assert harness.engine.idle() and harness.engine.unfinished() == []


def test_a_write_off_of_an_invoice_billing_says_is_paid_now_is_superseded_before_it_is_posted() -> None:
    """The recovery's payment is queued behind a throttled ERP when the (late) write-off comes: the
    write-off would post first and the payment apply to nothing. Re-read, the invoice is paid."""
    paid = invoice(status="paid")
    harness = Harness(settings=NO_GAP_FILL, billing=lambda runtime: ChargeBook(runtime, {}, invoices={"in_1": paid}))
    preloaded_customer_and_invoice(harness)
    harness.deliver(event("evt_unc", "invoice.marked_uncollectible", invoice(status="uncollectible"), WRITTEN_OFF_S),
                    after_s=RECOVERED_S - START_S)
    harness.run(RECOVERED_S - START_S + DRAIN_S)
    assert harness.engine.billing.reads == ["in_1"]
    assert harness.records("engine.rechecked")["code"].to_list() == ["paid"]
    assert harness.state("in_1:writeoff") == "superseded" and harness.client.posted("writeoff") == []


def test_a_write_off_of_an_invoice_still_uncollectible_is_posted_after_the_re_read() -> None:
    uncollectible = invoice(status="uncollectible")
    harness = Harness(settings=NO_GAP_FILL,
                      billing=lambda runtime: ChargeBook(runtime, {}, invoices={"in_1": uncollectible}))
    preloaded_customer_and_invoice(harness)
    harness.deliver(event("evt_unc", "invoice.marked_uncollectible", uncollectible, WRITTEN_OFF_S))
    harness.run()
    assert harness.records("engine.rechecked")["code"].to_list() == ["uncollectible"]
    assert harness.state("in_1:writeoff") == POSTED and harness.erp.invoices["in_1"].status == "written_off"
