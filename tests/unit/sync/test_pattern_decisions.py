"""Unit tests of the p2p, batch and event patterns' decisions: what each posts for an event, how it
stages a batch, where it partitions, and what it does after each kind of failed post."""

from __future__ import annotations

import pytest

from rehearse.sync import batch, event, p2p, rules
from rehearse.sync.decisions import AMBIGUOUS, CLOSED_PERIOD, DUPLICATE, MISSING_REFERENCE, PERMANENT, TRANSIENT
from rehearse.sync.model import Address, Charge, Customer, Event, Invoice, InvoiceLine, parse_utc

START_S = parse_utc("2026-02-01T00:00:00Z")
LINE = InvoiceLine("Pro", "subscription", 10_000, 800, START_S, parse_utc("2026-03-01"))


def customer(customer_id: str = "cus_1") -> Customer:
    return Customer(customer_id, "US01", "USD", "Acme", "ap@acme.test",
                    Address("1 Main St", "Springfield", "CA", "90001", "US"), START_S)


def invoice(status: str = "open", invoice_id: str = "in_1", customer_id: str = "cus_1", tax_status: str = "complete",
            amount_paid_minor: int = 0) -> Invoice:
    return Invoice(invoice_id, customer_id, "sub_1", "US01", "USD", status, (LINE,), 10_000, 800, 10_800,
                   amount_paid_minor, START_S, START_S + 3600.0, tax_status)


def charge(charge_id: str = "ch_1", invoice_id: str = "in_1", customer_id: str = "cus_1") -> Charge:
    return Charge(charge_id, invoice_id, customer_id, "US01", "USD", 10_800, "succeeded", "", START_S + 3700.0)


def types(documents) -> list[tuple[str, str]]:
    return [(document.doc_type, document.external_id) for document in documents]


# -- p2p ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("event_type", "data", "with_ids", "without_ids"), [
    ("customer.created", customer(), [("customer", "cus_1")], [("customer", "cus_1")]),
    ("charge.succeeded", charge(), [("payment", "ch_1")], [("payment", "ch_1")]),
    ("invoice.finalized", invoice(), [("invoice", "in_1")], [("invoice", "in_1")]),
    # With external ids every invoice event upserts the invoice (a lost finalized is made good).
    ("invoice.paid", invoice("paid"), [("invoice", "in_1")], []),
    ("invoice.voided", invoice("void"), [("invoice", "in_1"), ("void", "in_1:void")], [("void", "in_1:void")]),
    ("invoice.marked_uncollectible", invoice("uncollectible"),
     [("invoice", "in_1"), ("writeoff", "in_1:writeoff")], [("writeoff", "in_1:writeoff")]),
    ("invoice.created", invoice("draft"), [], []),
    ("customer.subscription.updated", customer(), [], []),
])
def test_p2p_posts_what_the_event_calls_for(event_type, data, with_ids, without_ids):
    delivered = Event("evt_1", event_type, START_S + 4000.0, data)
    assert types(p2p.documents_for(delivered, external_ids=True)) == with_ids
    assert types(p2p.documents_for(delivered, external_ids=False)) == without_ids


@pytest.mark.parametrize(("outcome", "tries", "routing", "action"), [
    (TRANSIENT, 1, True, p2p.RETRY),
    (TRANSIENT, 2, True, p2p.RETRY),
    (TRANSIENT, 3, True, p2p.FAIL),  # two retries spent: answer 500, the sender retries later
    (AMBIGUOUS, 1, True, p2p.RETRY),
    (MISSING_REFERENCE, 3, True, p2p.FAIL),
    (CLOSED_PERIOD, 1, True, p2p.REROUTE),
    (CLOSED_PERIOD, 1, False, p2p.ALERT),
    (PERMANENT, 1, True, p2p.ALERT),
    (DUPLICATE, 1, True, p2p.ALERT),
])
def test_p2p_after_a_failed_call(outcome, tries, routing, action):
    assert p2p.after_failure(outcome, tries, retries=2, period_routing=routing) == action


# -- batch --------------------------------------------------------------------------------------


def test_batch_stages_in_dependency_order_and_holds_orphans():
    documents = [rules.payment_document(charge()), *rules.invoice_documents(invoice("void"), START_S + 9000.0),
                 rules.customer_document(customer()),
                 rules.payment_document(charge("ch_2", "in_9"))]  # in_9 is neither posted nor in the batch
    staged = batch.stage(documents, frozenset(), lambda key: False, frozenset(), period_routing=True)
    assert [types(level) for level in staged.levels] == [
        [("customer", "cus_1")], [("invoice", "in_1")], [("payment", "ch_1"), ("void", "in_1:void")], []]
    assert types(staged.waiting) == [("payment", "ch_2")]
    assert staged.untaxed == ()


def test_batch_keeps_untaxed_invoices_and_their_children_out():
    documents = [*rules.invoice_documents(invoice(tax_status="requires_location_inputs"), START_S),
                 rules.payment_document(charge())]
    staged = batch.stage(documents, frozenset({"in_1"}), lambda key: key == "cus_1", frozenset(), True)
    assert types(staged.untaxed) == [("invoice", "in_1"), ("payment", "ch_1")]
    assert all(level == () for level in staged.levels)


def test_batch_routes_documents_dated_in_a_period_it_learnt_was_closed():
    document = rules.invoice_document(invoice())  # dated 2026-02
    closed = frozenset({("US01", "2026-02"), ("US01", "2026-03")})
    routed = batch.stage([document], frozenset(), lambda key: True, closed, period_routing=True)
    assert routed.levels[1][0].posting_period == "2026-04" and routed.levels[1][0].tran_date_s == document.tran_date_s
    rejected = batch.stage([document], frozenset(), lambda key: True, closed, period_routing=False)
    assert rejected.closed == (document,) and all(level == () for level in rejected.levels)


SETTINGS = batch.BatchSettings(attempts_max=3, retries_in_run=2)


@pytest.mark.parametrize(("outcome", "tries", "runs_failed", "settings", "action"), [
    (TRANSIENT, 1, 0, SETTINGS, "again"),
    (AMBIGUOUS, 2, 0, SETTINGS, "again"),
    (TRANSIENT, 3, 0, SETTINGS, "next_run"),  # in-run retries spent: the next run tries again
    (MISSING_REFERENCE, 1, 0, SETTINGS, "next_run"),
    (MISSING_REFERENCE, 1, 2, SETTINGS, "missing_reference"),  # the third failed run
    (TRANSIENT, 3, 2, SETTINGS, "retries_exhausted"),
    (CLOSED_PERIOD, 1, 0, SETTINGS, "reroute"),
    (CLOSED_PERIOD, 1, 0, SETTINGS._replace(period_routing=False), "closed_period"),
    (PERMANENT, 1, 0, SETTINGS, "permanent"),
    (DUPLICATE, 1, 0, SETTINGS, "permanent"),
])
def test_batch_after_a_failed_post(outcome, tries, runs_failed, settings, action):
    assert batch.after_failure(outcome, tries, runs_failed, settings) == action


# -- event --------------------------------------------------------------------------------------


def test_event_partitions_are_stable_and_spread():
    keys = [f"cus_{index}" for index in range(1000)]
    partitions = [event.partition_of(key, 8) for key in keys]
    assert partitions == [event.partition_of(key, 8) for key in keys]  # the same in any process
    assert event.partition_of("cus_1", 8) == 6  # CRC-32, pinned: never Python's salted hash
    assert set(partitions) == set(range(8)) and max(map(partitions.count, range(8))) < 1000 / 8 * 1.3


def test_event_orders_by_customer():
    assert event.ordering_key(Event("e1", "customer.created", START_S, customer("cus_7"))) == "cus_7"
    assert event.ordering_key(Event("e2", "invoice.paid", START_S, invoice(customer_id="cus_7"))) == "cus_7"
    assert event.ordering_key(Event("e3", "charge.succeeded", START_S, charge(customer_id="cus_7"))) == "cus_7"


@pytest.mark.parametrize(("outcome", "retries", "routing", "action"), [
    (TRANSIENT, 0, True, event.RETRY),
    (MISSING_REFERENCE, 9, True, event.RETRY),
    (MISSING_REFERENCE, 10, True, event.DEAD_LETTER),
    (AMBIGUOUS, 10, True, event.DEAD_LETTER),
    (CLOSED_PERIOD, 0, True, event.REROUTE),
    (CLOSED_PERIOD, 0, False, "closed_period"),
    (PERMANENT, 0, True, "permanent"),
])
def test_event_after_a_failed_post(outcome, retries, routing, action):
    assert event.after_failure(outcome, retries, retries_max=10, period_routing=routing) == action


def test_batch_stages_a_reversal_after_the_payment_it_takes_back():
    returned = charge()._replace(status="reversed", decline_code="R01", reversed_s=START_S + 3 * 86400.0)
    documents = [rules.reversal_document(returned), rules.payment_document(returned)]
    staged = batch.stage(documents, frozenset(), lambda key: key in ("cus_1", "in_1"), frozenset(),
                         period_routing=True)
    assert [types(level) for level in staged.levels] == [[], [], [("payment", "ch_1")], [("reversal", "ch_1:reversal")]]
