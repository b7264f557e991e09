"""The project's exactly-once property (DOMAIN.md I2, I3, I12, I13).

For random traffic with duplicated and reordered webhooks, the orchestrated engine posts every
invoice and payment exactly once, voids and writes off exactly what is due, and every journal
balances. Hypothesis draws a small book, expands it into the platform's events, duplicates some,
delivers all in a random order at random times, against an ERP with a small concurrency cap shared
with other integrations for a while, and lost replies; after the run drains, read-only checks
compare the ERP with the book. For the orchestrated engine the book also holds invoices paid by a
bank debit that came back and then paid again (whose re-payment may come before the return), and
invoices written off and paid after all (E7).

Each delivery comes after its event happened, within ten minutes; for the orchestrated engine some
come up to two days late, so what happened within two days of each other can arrive in any order
(a re-payment before the return it follows, a recovery's payment before the write-off), and
billing, re-read, answers as of the moment it is asked.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, NamedTuple

import polars as pl
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from rehearse.fakes.erp import Erp
from rehearse.sim.distributions import LogNormal
from rehearse.sim.erp_client import InProcessErpClient
from rehearse.sim.faults import FaultPlan, ReplyLost
from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.simpy_runtime import SimPyRuntime
from rehearse.sync.model import Address, Charge, Customer, Event, Invoice, InvoiceLine
from rehearse.sync.event import EventEngine, EventSettings
from rehearse.sync.orchestrated import EngineSettings, OrchestratedEngine
from rehearse.sync.store import MemoryStore

START_S = 1_770_000_000.0  # 2026-02-02T02:40:00Z
ENTITIES = {"US01": "USD", "EU01": "EUR"}
DAY_S = 86400.0
DELIVERY_SPREAD_S = 600.0  # every delivery lands within ten minutes of the start, in any order
# Other integrations of the same ERP account hold a share of its cap that changes every
# `OTHER_LOAD_STEP_S` (often within one request's latency, so a slot can vanish between a post and
# the lookup that follows it) for `OTHER_LOAD_WINDOW_S`, then go quiet: faults heal and the engine
# must converge. The window is shorter than the default retry budget (attempts 1-11 of
# `RetryPolicy()` wait at least half of 1+2+...+256+300+300 = 1111 s), so no posting can exhaust
# its retries on the fault alone.
OTHER_LOAD_STEP_S = 0.25
OTHER_LOAD_WINDOW_S = 300.0
FATES = ("open", "paid", "void", "uncollectible")
# returned: paid by a bank debit that came back three days later, paid again by card a day after;
# recovered: written off after 14 days, paid after all six days later; recovered_soon: paid an hour
# after the write-off, so the news of both can come in any order (the write-off may be superseded).
ORCHESTRATED_FATES = (*FATES, "returned", "recovered", "recovered_soon")
ERP_STATUS_BY_FATE = {"open": "open", "paid": "paid", "void": "void", "uncollectible": "written_off",
                      "returned": "paid", "recovered": "paid", "recovered_soon": "paid"}
# the charge that settles it
SETTLED_BY = {"paid": "ch_{}", "returned": "ch_{}_2", "recovered": "ch_{}_r", "recovered_soon": "ch_{}_r"}
RECOVERY_DELAY_S = {"recovered": 6 * DAY_S, "recovered_soon": 3600.0}
LATE_S_MAX = 2 * DAY_S


class Book(NamedTuple):
    """The commercial truth: customers, finalized invoices and what became of each."""

    customers: tuple[Customer, ...]
    invoices: tuple[Invoice, ...]  # as finalized (status "open")
    fates: tuple[str, ...]  # one of FATES per invoice


class Traffic(NamedTuple):
    book: Book
    deliveries: tuple[tuple[float, Event], ...]  # (delay in seconds, event), duplicates included
    erp_concurrency_limit: int
    engine_concurrency: int
    reply_lost_probability: float
    other_load_max: int  # requests other integrations of the same ERP account may hold at once
    seed: int


# -- the book and its events ----------------------------------------------------------------------


@st.composite
def books(draw: Any, fates: tuple[str, ...] = FATES) -> Book:
    customers = []
    for number in range(draw(st.integers(min_value=1, max_value=4))):
        entity = draw(st.sampled_from(sorted(ENTITIES)))
        address = Address("1 Main St", "Springfield", "CA", "90001", "US")
        customers.append(Customer(f"cus_{number}", entity, ENTITIES[entity], f"Customer {number}",
                                  f"cus_{number}@example.test", address, START_S - DAY_S))
    invoices = []
    fates_of, fates = fates, []
    for number in range(draw(st.integers(min_value=1, max_value=6))):
        owner = draw(st.sampled_from(customers))
        amount_minor = draw(st.integers(min_value=100, max_value=50_000))
        tax_minor = draw(st.integers(min_value=0, max_value=amount_minor // 5))
        finalized_s = START_S + number * 60.0
        line = InvoiceLine("Pro plan", "subscription", amount_minor, tax_minor, finalized_s, finalized_s + 30 * DAY_S)
        invoices.append(Invoice(
            f"in_{number}", owner.id, f"sub_{owner.id}", owner.entity, owner.currency, "open", (line,),
            amount_minor, tax_minor, amount_minor + tax_minor, 0, finalized_s - 3600.0, finalized_s))
        fates.append(draw(st.sampled_from(fates_of)))
    return Book(tuple(customers), tuple(invoices), tuple(fates))


def platform_events(book: Book) -> list[Event]:
    """The events the platform publishes for the book, in the order it publishes them."""
    events = [Event(f"evt_{c.id}", "customer.created", c.created_s, c) for c in book.customers]
    for invoice, fate in zip(book.invoices, book.fates):
        events.append(Event(f"evt_{invoice.id}_finalized", "invoice.finalized", invoice.finalized_s, invoice))
        later_s = invoice.finalized_s + 30.0
        if fate == "paid":
            paid = invoice._replace(status="paid", amount_paid_minor=invoice.total_minor)
            events.append(Event(f"evt_{invoice.id}_paid", "invoice.paid", later_s, paid))
            charge = Charge(f"ch_{invoice.id}", invoice.id, invoice.customer_id, invoice.entity, invoice.currency,
                            invoice.total_minor, "succeeded", "", later_s)
            events.append(Event(f"evt_{charge.id}", "charge.succeeded", later_s, charge))
        elif fate == "void":
            events.append(Event(f"evt_{invoice.id}_voided", "invoice.voided", later_s,
                                invoice._replace(status="void")))
        elif fate == "uncollectible":
            events.append(Event(f"evt_{invoice.id}_uncollectible", "invoice.marked_uncollectible",
                                later_s + 14 * DAY_S, invoice._replace(status="uncollectible")))
        elif fate == "returned":
            debit = charge_of(invoice, f"ch_{invoice.id}", later_s)._replace(method="ach_debit")
            returned_s, repaid_s = later_s + 3 * DAY_S, later_s + 4 * DAY_S
            reopened = invoice._replace(reopened=1)
            events += [
                Event(f"evt_{debit.id}", "charge.succeeded", later_s, debit),
                Event(f"evt_{invoice.id}_paid", "invoice.paid", later_s,
                      invoice._replace(status="paid", amount_paid_minor=invoice.total_minor)),
                Event(f"evt_{debit.id}_reversed", "charge.reversed", returned_s,
                      debit._replace(status="reversed", decline_code="R01", reversed_s=returned_s)),
                Event(f"evt_{invoice.id}_reopened", "invoice.reopened", returned_s, reopened),
                Event(f"evt_ch_{invoice.id}_2", "charge.succeeded", repaid_s,
                      charge_of(invoice, f"ch_{invoice.id}_2", repaid_s)),
                Event(f"evt_{invoice.id}_paid_2", "invoice.paid", repaid_s,
                      reopened._replace(status="paid", amount_paid_minor=invoice.total_minor)),
            ]
        elif fate in RECOVERY_DELAY_S:
            written_off_s = later_s + 14 * DAY_S
            recovered_s = written_off_s + RECOVERY_DELAY_S[fate]
            events += [
                Event(f"evt_{invoice.id}_uncollectible", "invoice.marked_uncollectible", written_off_s,
                      invoice._replace(status="uncollectible")),
                Event(f"evt_ch_{invoice.id}_r", "charge.succeeded", recovered_s,
                      charge_of(invoice, f"ch_{invoice.id}_r", recovered_s)),
                Event(f"evt_{invoice.id}_paid", "invoice.paid", recovered_s,
                      invoice._replace(status="paid", amount_paid_minor=invoice.total_minor)),
            ]
    return events


def charge_of(invoice: Invoice, charge_id: str, created_s: float) -> Charge:
    return Charge(charge_id, invoice.id, invoice.customer_id, invoice.entity, invoice.currency, invoice.total_minor,
                  "succeeded", "", created_s)


def histories(book: Book) -> dict[str, list[tuple[float, Charge | Invoice]]]:
    """Every charge's and invoice's states, each from when it happened, in time order."""
    states: dict[str, list[tuple[float, Charge | Invoice]]] = {}
    for event in sorted(platform_events(book), key=lambda event: event.created_s):
        if event.type.startswith(("charge.", "invoice.")):
            states.setdefault(event.data.id, []).append((event.created_s, event.data))
    return states


class BookBilling:
    """Billing's and payments' retrieve APIs over the book, answering as of the moment asked;
    nothing to list (no gap-fill)."""

    def __init__(self, runtime: SimPyRuntime, states: dict[str, list[tuple[float, Charge | Invoice]]]) -> None:
        self.runtime = runtime
        self.states = states

    def _as_of_now(self, object_id: str) -> Any:
        now = self.runtime.now()
        current = None
        for happened_s, record in self.states.get(object_id, ()):
            if happened_s <= now:
                current = record
        return current

    async def _nothing(self) -> list:
        return []

    def list_customers(self, since_s: float):
        return self._nothing()

    def list_invoices(self, since_s: float):
        return self._nothing()

    def list_charges(self, since_s: float):
        return self._nothing()

    async def get_charge(self, charge_id: str) -> Charge | None:
        await self.runtime.sleep(0.5)
        return self._as_of_now(charge_id)

    async def get_invoice(self, invoice_id: str) -> Invoice | None:
        await self.runtime.sleep(0.5)
        return self._as_of_now(invoice_id)


@st.composite
def traffic(draw: Any, fates: tuple[str, ...] = FATES, late_s_max: float = 0.0) -> Traffic:
    book = draw(books(fates))
    deliveries = []
    for event in platform_events(book):
        copies = draw(st.sampled_from((1, 1, 1, 2, 3)))  # at-least-once delivery: some duplicated
        happened_s = max(0.0, event.created_s - START_S)
        for _ in range(copies):
            late_s = draw(st.sampled_from((0.0, 0.0, 0.0, late_s_max))) * draw(st.floats(0.0, 1.0))
            deliveries.append((happened_s + late_s + draw(st.floats(min_value=0.0, max_value=DELIVERY_SPREAD_S)),
                               event))
    order = draw(st.permutations(range(len(deliveries))))  # also reorders deliveries at equal times
    return Traffic(
        book=book,
        deliveries=tuple(deliveries[index] for index in order),
        erp_concurrency_limit=draw(st.integers(min_value=1, max_value=4)),
        engine_concurrency=draw(st.integers(min_value=1, max_value=6)),
        reply_lost_probability=draw(st.sampled_from((0.0, 0.0, 0.1, 0.3))),
        other_load_max=draw(st.sampled_from((0, 0, 1, 2, 4))),
        seed=draw(st.integers(min_value=0, max_value=2**32 - 1)),
    )


# -- one run --------------------------------------------------------------------------------------


class Run(NamedTuple):
    erp: Erp
    engine: OrchestratedEngine | EventEngine
    store: MemoryStore
    trace: pl.DataFrame


def run(case: Traffic, pattern: str = "orchestrated") -> Run:
    env = simpy.Environment(initial_time=START_S)
    runtime = SimPyRuntime(env)
    recorder = TraceRecorder()
    erp = Erp(entities=ENTITIES, concurrency_limit=case.erp_concurrency_limit, trace=recorder)
    client = InProcessErpClient(
        runtime=runtime, erp=erp, latency=LogNormal(120, 600, random.Random(case.seed)),
        rng=random.Random(case.seed + 1), trace=recorder,
        faults=FaultPlan([ReplyLost(kind="reply_lost", probability=case.reply_lost_probability)]))
    store = MemoryStore()
    if pattern == "event":
        # Retries enough to outlast any reordering here: no dead letters, as no person replays them.
        engine = EventEngine(runtime=runtime, erp=client, store=store, trace=recorder,
                             random=random.Random(case.seed + 2),
                             settings=EventSettings(consumers=case.engine_concurrency, retries_max=60))
    else:
        engine = OrchestratedEngine(runtime=runtime, erp=client, store=store, trace=recorder,
                                    random=random.Random(case.seed + 2),
                                    settings=EngineSettings(concurrency=case.engine_concurrency, gap_fill=False),
                                    billing=BookBilling(runtime, histories(case.book)))
    engine.start()
    for delay_s, event in case.deliveries:
        runtime.call_later(delay_s, engine.receive, event)
    if case.other_load_max:
        env.process(other_load(env, erp, case.other_load_max, random.Random(case.seed + 3)))
    env.run()  # to completion: only workers waiting on an empty queue remain
    return Run(erp, engine, store, recorder.frame())


def other_load(env: simpy.Environment, erp: Erp, load_max: int, rng: random.Random):
    """Other integrations hold a varying share of the ERP's cap (all of it at times), then stop."""
    while env.now < START_S + OTHER_LOAD_WINDOW_S:
        erp.other_load = rng.randint(0, load_max)
        yield env.timeout(OTHER_LOAD_STEP_S)
    erp.other_load = 0


# -- checks: read-only, each returns what is wrong ------------------------------------------------


def erp_documents_by_source(trace: pl.DataFrame) -> Counter:
    documents = trace.filter(pl.col("kind") == "erp.document")
    return Counter(zip(documents["code"].to_list(), documents["ref_id"].to_list()))


def expected_documents(book: Book) -> Counter:
    expected = Counter(("customer", customer.id) for customer in book.customers)
    for invoice, fate in zip(book.invoices, book.fates):
        expected["invoice", invoice.id] += 1
        if fate == "paid":
            expected["payment", f"ch_{invoice.id}"] += 1
        elif fate == "void":
            expected["void", invoice.id] += 1
        elif fate == "uncollectible":
            expected["writeoff", invoice.id] += 1
        elif fate == "returned":
            expected["payment", f"ch_{invoice.id}"] += 1
            expected["reversal", f"ch_{invoice.id}"] += 1
            expected["payment", f"ch_{invoice.id}_2"] += 1
        elif fate in RECOVERY_DELAY_S:
            expected["writeoff", invoice.id] += 1
            expected["recovery", invoice.id] += 1
            expected["payment", f"ch_{invoice.id}_r"] += 1
    return expected


def writeoffs_never_needed(book: Book, trace: pl.DataFrame) -> Counter:
    """The write-offs, and their recoveries, an invoice paid an hour after its write-off never
    needed: the engine heard it was paid before (or instead of) posting the write-off, which it then
    superseded or never planned. Expected, and never posted."""
    written_off = {ref_id for code, ref_id in erp_documents_by_source(trace) if code == "writeoff"}
    gone: Counter = Counter()
    for invoice, fate in zip(book.invoices, book.fates):
        if fate == "recovered_soon" and invoice.id not in written_off:
            gone["writeoff", invoice.id] += 1
            gone["recovery", invoice.id] += 1
    return gone


def wrong_invoices(book: Book, erp: Erp) -> list[str]:
    wrong = []
    for invoice, fate in zip(book.invoices, book.fates):
        record = erp.invoices.get(invoice.id)
        if record is None:
            wrong.append(f"{invoice.id}: missing")
            continue
        document = record.document
        if (document.amount_minor, document.tax_minor, document.entity, document.currency, document.parent_id) != (
                invoice.total_minor, invoice.tax_minor, invoice.entity, invoice.currency, invoice.customer_id):
            wrong.append(f"{invoice.id}: posted as {document}")
        if record.status != ERP_STATUS_BY_FATE[fate]:
            wrong.append(f"{invoice.id}: {record.status}, expected {ERP_STATUS_BY_FATE[fate]}")
        if fate in SETTLED_BY:
            payment = erp.payments.get(SETTLED_BY[fate].format(invoice.id))
            if payment is None or payment.applied_minor != invoice.total_minor:
                wrong.append(f"{invoice.id}: payment {payment!r} does not settle {invoice.total_minor}")
    return wrong


def unbalanced_books(erp: Erp) -> dict[tuple[str, str], int]:
    totals: Counter = Counter()
    for (entity, currency, _account), balance_minor in erp.gl_balances().items():
        totals[entity, currency] += balance_minor
    return {book: total for book, total in totals.items() if total != 0}


def receivables_mismatch(book: Book, erp: Erp) -> dict[tuple[str, str], tuple[int, int]]:
    """AR in the GL per book against what is still owed on open invoices."""
    owed: Counter = Counter()
    for invoice, fate in zip(book.invoices, book.fates):
        if fate == "open":
            owed[invoice.entity, invoice.currency] += invoice.total_minor
    mismatched = {}
    for entity, currency in ENTITIES.items():
        ar_minor = erp.gl_balance(entity, currency, "1100 Accounts Receivable")
        if ar_minor != owed[entity, currency]:
            mismatched[entity, currency] = (ar_minor, owed[entity, currency])
    return mismatched


# -- the property ---------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(traffic(ORCHESTRATED_FATES, LATE_S_MAX))
def test_every_invoice_and_payment_is_posted_exactly_once_and_every_journal_balances(case: Traffic) -> None:
    result = run(case)
    exceptions = {key: (record.reason, record.detail) for key, record in result.store.exceptions.items()}
    assert exceptions == {}
    assert result.engine.idle()
    assert [posting.document.external_id for posting in result.engine.unfinished()] == []
    expected = expected_documents(case.book) - writeoffs_never_needed(case.book, result.trace)
    assert erp_documents_by_source(result.trace) == expected
    assert wrong_invoices(case.book, result.erp) == []
    assert unbalanced_books(result.erp) == {}
    assert receivables_mismatch(case.book, result.erp) == {}


@settings(max_examples=50, deadline=None)
@given(traffic())
def test_the_event_pattern_posts_exactly_once_under_duplicates_reordering_and_lost_replies(case: Traffic) -> None:
    result = run(case, "event")
    assert result.store.exceptions == {} and result.store.dead_letters == {}
    assert result.engine.idle() and result.engine.unfinished() == []
    assert erp_documents_by_source(result.trace) == expected_documents(case.book)
    assert wrong_invoices(case.book, result.erp) == []
    assert unbalanced_books(result.erp) == {}
    assert receivables_mismatch(case.book, result.erp) == {}
