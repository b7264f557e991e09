"""Unit tests of the billing fake: renewals, finalization, collection and dunning, first invoices,
proration, cancellation, billing anchors and illegal moves (DOMAIN.md sections 2-4).

The platform is driven by hand: `schedule` only records calls, and `Harness.run_next` runs the
earliest one at its due time as the world would, with `callback(*args, now_s)`.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from hypothesis import given, strategies as st

from rehearse.fakes.billing import Billing, BillingSettings, prorate_minor
from rehearse.fakes.events import EventLog
from rehearse.fakes.machine import IllegalTransition
from rehearse.fakes.payments import PaymentSettings, PaymentsGateway, UnknownOutcome
from rehearse.fakes.payments.states import HARD_DECLINES, SOFT_DECLINES
from rehearse.fakes.tax import TaxEngine
from rehearse.sync.model import Address, Customer, Event, Price, parse_utc

DAY_S = 86400.0
HOUR_S = 3600.0
JAN_01_S = parse_utc("2026-01-01T00:00:00Z")
FEB_01_S = parse_utc("2026-02-01T00:00:00Z")
FEB_15_S = parse_utc("2026-02-15T00:00:00Z")  # the exact middle of February 2026 (28 days)
MAR_01_S = parse_utc("2026-03-01T00:00:00Z")
APR_01_S = parse_utc("2026-04-01T00:00:00Z")

CA_RATE_BPS = 725  # California in DEFAULT_RATES_BPS
PRICES = {
    "basic:USD": Price("basic:USD", "basic", "month", "USD", 1000),  # 10 USD a month
    "pro:USD": Price("pro:USD", "pro", "month", "USD", 2000),  # 20 USD a month
    "basic-annual:USD": Price("basic-annual:USD", "basic-annual", "year", "USD", 10000),
}


def make_customer(customer_id: str = "cus_1", postal_code: str = "94105", region: str = "CA") -> Customer:
    address = Address("1 Market St", "San Francisco", region, postal_code, "US")
    return Customer(customer_id, "US01", "USD", "Acme", "ap@acme.test", address, JAN_01_S)


class TraceRecorder:
    """A trace that keeps every record as (t_s, kind, fields)."""

    def __init__(self) -> None:
        self.records: list[tuple[float, str, dict[str, Any]]] = []

    def emit(self, t_s: float, kind: str, **fields: Any) -> None:
        self.records.append((t_s, kind, fields))

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [fields for _, record_kind, fields in self.records if record_kind == kind]


class ScriptedRandom:
    """Stands in for `random.Random`: `random()` answers the scripted draws in order."""

    def __init__(self, draws: Iterable[float]) -> None:
        self.draws = deque(draws)

    def random(self) -> float:
        assert self.draws, "the gateway drew more random numbers than the test scripted"
        return self.draws.popleft()


# Draws that make one charge attempt succeed, or fail with a soft or a hard decline (the gateway
# draws: outcome, then hard-or-soft, then which code).
SUCCEED = (0.0,)
SOFT_FAIL = (0.999, 0.999, 0.0)  # insufficient_funds
HARD_FAIL = (0.999, 0.0, 0.0)  # fraudulent


class Harness:
    """A billing platform with its gateway, tax engine, event log and a hand-cranked schedule."""

    def __init__(
        self, *, success_probability: float = 1.0, retry_success_probability: float | None = None,
        hard_decline_share: float = 0.0, exhausted_action: str = "unpaid", rng: Any = None,
        ach_share: float = 0.0, faults: Any = None, lookup_unknown_outcomes: bool = True,
        recovery_share: float = 0.0,
    ) -> None:
        if isinstance(rng, ScriptedRandom):  # the script decides every outcome
            success_probability = retry_success_probability = hard_decline_share = 0.5
        self.now_s = JAN_01_S
        self.events: list[Event] = []
        self.trace = TraceRecorder()
        self.pending: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self.delays_s: list[float] = []
        self._seq = 0
        log = EventLog(self.events.append)
        retry = success_probability if retry_success_probability is None else retry_success_probability
        self.payments = PaymentsGateway(
            settings=PaymentSettings(success_probability, retry, hard_decline_share, ach_share),
            rng=rng if rng is not None else random.Random(7), events=log, trace=self.trace,
            schedule=self.schedule, faults=faults)
        self.billing = Billing(
            settings=BillingSettings(exhausted_action=exhausted_action,
                                     lookup_unknown_outcomes=lookup_unknown_outcomes, recovery_share=recovery_share),
            prices=dict(PRICES), tax=TaxEngine(),
            payments=self.payments, events=log, trace=self.trace, schedule=self.schedule)

    def schedule(self, delay_s: float, callback: Callable[..., Any], *args: Any) -> None:
        self._seq += 1
        self.delays_s.append(delay_s)
        self.pending.append((self.now_s + delay_s, self._seq, callback, args))

    def run_next(self) -> tuple[float, Callable[..., Any]]:
        """Run the earliest scheduled call at its due time; return (due_s, callback)."""
        self.pending.sort(key=lambda call: call[:2])
        due_s, _, callback, args = self.pending.pop(0)
        self.now_s = due_s
        callback(*args, due_s)
        return due_s, callback

    def run_all(self) -> list[float]:
        """Run scheduled calls until none is left; return their due times."""
        due = []
        while self.pending:
            due.append(self.run_next()[0])
        return due

    def types(self, since: int = 0) -> list[str]:
        return [event.type for event in self.events[since:]]

    def existing(self, anchor_s: float = JAN_01_S, price_id: str = "basic:USD", cycle: int = 0,
                 customer: Customer | None = None):
        """A subscription from before the run, current period starting at `anchor_s` (cycle 0)."""
        return self.billing.add_existing(customer or make_customer(), PRICES[price_id], anchor_s, cycle)

    def renew(self, record, at_s: float):
        self.now_s = at_s
        return self.billing.renew(record.id, at_s)


# -- renewal, finalization, payment -----------------------------------------------------------------


def test_adding_the_existing_book_publishes_nothing() -> None:
    harness = Harness()
    record = harness.existing()
    assert (record.status, record.period_start_s, record.period_end_s) == ("active", JAN_01_S, FEB_01_S)
    assert harness.events == [] and harness.trace.records == [] and harness.pending == []


def test_a_renewal_opens_the_next_period_with_a_draft_invoice_without_tax() -> None:
    harness = Harness()
    record = harness.existing()
    invoice = harness.renew(record, FEB_01_S)
    assert (record.period_start_s, record.period_end_s, record.cycle) == (FEB_01_S, MAR_01_S, 1)
    assert harness.types() == ["invoice.created"]  # active -> active sends no subscription event
    created = harness.events[0].data
    assert created == invoice
    assert (created.status, created.tax_minor, created.subtotal_minor, created.total_minor) == ("draft", 0, 1000, 1000)
    assert created.finalized_s == 0.0 and created.created_s == FEB_01_S
    (line,) = created.lines
    assert (line.kind, line.amount_minor, line.tax_minor) == ("subscription", 1000, 0)
    assert (line.period_start_s, line.period_end_s) == (FEB_01_S, MAR_01_S)
    # Finalization is scheduled an hour later, not done now.
    [(due_s, _, _, _)] = harness.pending
    assert due_s == FEB_01_S + HOUR_S and len(harness.billing.finalizing) == 1
    assert harness.billing.invoices[invoice.id].status == "draft"


def test_finalization_an_hour_later_taxes_at_the_customer_rate_and_then_the_invoice_is_paid() -> None:
    harness = Harness(success_probability=1.0)
    record = harness.existing()
    invoice = harness.renew(record, FEB_01_S)
    assert harness.run_next()[0] == FEB_01_S + HOUR_S
    assert harness.types() == ["invoice.created", "invoice.finalized", "charge.succeeded", "invoice.paid"]
    assert [event.id for event in harness.events] == ["evt_1", "evt_2", "evt_3", "evt_4"]
    finalized = harness.events[1].data
    tax_minor = 73  # 1000 * 7.25 % = 72.5, rounded half away from zero
    assert TaxEngine.tax_minor(1000, CA_RATE_BPS) == tax_minor
    assert (finalized.status, finalized.tax_minor, finalized.total_minor) == ("open", tax_minor, 1000 + tax_minor)
    assert finalized.lines[0].tax_minor == tax_minor and finalized.finalized_s == FEB_01_S + HOUR_S
    charge = harness.events[2].data
    assert (charge.invoice_id, charge.amount_minor, charge.status, charge.decline_code) == (
        invoice.id, 1073, "succeeded", "")
    paid = harness.events[3].data
    assert (paid.status, paid.amount_paid_minor, paid.total_minor) == ("paid", 1073, 1073)
    assert harness.billing.invoices[invoice.id] == paid
    assert record.status == "active" and harness.pending == []
    [trace] = harness.trace.of_kind("billing.invoice_finalized")
    assert (trace["amount_minor"], trace["tax_minor"], trace["period"]) == (1073, 73, "2026-02")


def test_a_failed_renewal_makes_the_subscription_past_due_and_schedules_the_first_retry_a_day_later() -> None:
    harness = Harness(success_probability=0.0, hard_decline_share=0.0)
    record = harness.existing()
    invoice = harness.renew(record, FEB_01_S)
    harness.run_next()
    assert harness.types(1) == ["invoice.finalized", "charge.failed", "invoice.payment_failed",
                                "customer.subscription.updated"]
    assert harness.events[3].data.status == "open"
    assert harness.events[4].data.status == "past_due" and record.status == "past_due"
    assert harness.events[2].data.decline_code in SOFT_DECLINES
    first_failure_s = FEB_01_S + HOUR_S
    [(due_s, _, callback, args)] = harness.pending
    assert (due_s, callback, args) == (first_failure_s + DAY_S, harness.billing.collect, (invoice.id, 2))


@pytest.mark.parametrize(("exhausted_action", "final_status", "last_event"), [
    ("canceled", "canceled", "customer.subscription.deleted"),
    ("unpaid", "unpaid", "customer.subscription.updated"),
    ("past_due", "past_due", "invoice.marked_uncollectible"),  # left past_due: no subscription event
])
def test_dunning_retries_on_the_schedule_then_gives_up_per_account_setting(
    exhausted_action: str, final_status: str, last_event: str,
) -> None:
    harness = Harness(success_probability=0.0, hard_decline_share=0.0, exhausted_action=exhausted_action)
    record = harness.existing()
    invoice = harness.renew(record, FEB_01_S)
    harness.run_next()  # finalize, attempt 1
    first_failure_s = harness.now_s
    retries_due_s = harness.run_all()
    assert retries_due_s == [first_failure_s + days * DAY_S for days in (1, 3, 5, 7, 9, 11, 13)]
    charges = [event.data for event in harness.events if event.type == "charge.failed"]
    assert len(charges) == 8  # 8 attempts within 2 weeks
    assert all(charge.amount_minor == 1073 for charge in charges)
    assert harness.types().count("invoice.payment_failed") == 8
    assert harness.billing.invoices[invoice.id].status == "uncollectible"
    assert "invoice.marked_uncollectible" in harness.types()
    assert harness.types()[-1] == last_event
    assert record.status == final_status


def test_a_retry_that_succeeds_pays_the_invoice_and_brings_the_subscription_back_to_active() -> None:
    draws = [*SOFT_FAIL, *SOFT_FAIL, *SOFT_FAIL, *SUCCEED]  # paid on the third retry (attempt 4)
    harness = Harness(rng=ScriptedRandom(draws))
    record = harness.existing()
    invoice = harness.renew(record, FEB_01_S)
    due_s = harness.run_all()
    first_failure_s = FEB_01_S + HOUR_S
    assert due_s == [first_failure_s, first_failure_s + DAY_S, first_failure_s + 3 * DAY_S, first_failure_s + 5 * DAY_S]
    assert harness.billing.invoices[invoice.id].status == "paid"
    assert harness.billing.invoices[invoice.id].amount_paid_minor == 1073
    assert record.status == "active"
    assert harness.types()[-3:] == ["charge.succeeded", "invoice.paid", "customer.subscription.updated"]
    assert harness.events[-1].data.status == "active"


def test_the_next_failure_of_a_later_invoice_starts_its_own_dunning_clock() -> None:
    # Invoice 1 fails once and is paid on its first retry; invoice 2's retries count from its own failure.
    draws = [*SOFT_FAIL, *SUCCEED, *SOFT_FAIL]
    harness = Harness(rng=ScriptedRandom(draws))
    record = harness.existing()
    harness.renew(record, FEB_01_S)
    harness.run_all()
    second = harness.renew(record, MAR_01_S)
    harness.run_next()
    [(due_s, _, _, args)] = harness.pending
    assert (due_s, args) == (MAR_01_S + HOUR_S + DAY_S, (second.id, 2))


def test_a_hard_decline_stops_retries_at_once() -> None:
    harness = Harness(success_probability=0.0, hard_decline_share=1.0)
    record = harness.existing()
    invoice = harness.renew(record, FEB_01_S)
    harness.run_next()
    charge = next(event.data for event in harness.events if event.type == "charge.failed")
    assert charge.decline_code in HARD_DECLINES and PaymentsGateway.is_hard_decline(charge)
    assert harness.pending == []  # no retry scheduled
    assert harness.billing.invoices[invoice.id].status == "uncollectible"
    assert record.status == "unpaid"
    assert harness.types()[-2:] == ["invoice.marked_uncollectible", "customer.subscription.updated"]


def test_a_hard_decline_on_a_retry_stops_the_remaining_retries() -> None:
    harness = Harness(rng=ScriptedRandom([*SOFT_FAIL, *SOFT_FAIL, *HARD_FAIL]))
    record = harness.existing()
    invoice = harness.renew(record, FEB_01_S)
    harness.run_all()
    assert harness.types().count("charge.failed") == 3
    assert harness.billing.invoices[invoice.id].status == "uncollectible"
    assert record.status == "unpaid"


def test_a_customer_pays_an_uncollectible_invoice_after_all_recovery_after_days_later() -> None:
    harness = Harness(success_probability=0.0, hard_decline_share=1.0, recovery_share=1.0)
    record = harness.existing()
    invoice = harness.renew(record, FEB_01_S)
    harness.run_next()  # finalized, charged, hard declined: uncollectible
    assert harness.billing.invoices[invoice.id].status == "uncollectible"
    [(due_s, _, _, args)] = harness.pending
    assert (due_s, args) == (harness.now_s + 10 * DAY_S, (invoice.id,))
    harness.payments.settings = harness.payments.settings._replace(success_probability=1.0)
    harness.run_all()
    paid = harness.billing.invoices[invoice.id]
    assert (paid.status, paid.amount_paid_minor) == ("paid", paid.total_minor)
    assert harness.types()[-3:] == ["charge.succeeded", "invoice.paid", "customer.subscription.updated"]
    assert record.status == "active"


def test_a_recovery_charge_that_declines_leaves_the_invoice_uncollectible() -> None:
    harness = Harness(success_probability=0.0, hard_decline_share=1.0, recovery_share=1.0)
    invoice = harness.renew(harness.existing(), FEB_01_S)
    harness.run_all()
    assert harness.types().count("charge.failed") == 2
    assert harness.billing.invoices[invoice.id].status == "uncollectible"


def test_without_a_recovery_share_nothing_is_scheduled_after_an_invoice_is_uncollectible() -> None:
    harness = Harness(success_probability=0.0, hard_decline_share=1.0)
    harness.renew(harness.existing(), FEB_01_S)
    harness.run_next()
    assert harness.pending == []


def test_a_zero_invoice_is_paid_on_finalization_without_a_charge() -> None:
    harness = Harness()
    record = harness.billing.add_existing(make_customer(), Price("free:USD", "free", "month", "USD", 0), JAN_01_S, 0)
    invoice = harness.renew(record, FEB_01_S)
    harness.run_next()
    assert harness.types() == ["invoice.created", "invoice.finalized", "invoice.paid"]
    assert harness.billing.invoices[invoice.id].status == "paid"
    assert harness.payments.charges == {}


def test_an_imprecise_address_switches_automatic_tax_off_and_says_so_on_the_invoice() -> None:
    # As Stripe does: the invoice is finalized with no tax and flagged; it is the engine's job to
    # raise an exception rather than post zero tax.
    harness = Harness(success_probability=1.0)
    record = harness.existing(customer=make_customer(postal_code="9410"))
    invoice = harness.renew(record, FEB_01_S)
    harness.run_next()
    finalized = harness.billing.invoices[invoice.id]
    assert finalized.tax_status == "requires_location_inputs" and finalized.tax_minor == 0
    assert all(line.tax_minor == 0 for line in finalized.lines)
    assert "invoice.finalized" in harness.types()


# -- a new subscription's first invoice ---------------------------------------------------------------


def _new_subscription(harness: Harness, at_s: float = FEB_01_S + 5 * HOUR_S):
    harness.now_s = at_s
    harness.billing.create_customer(make_customer("cus_new"), at_s)
    return harness.billing.create_subscription("cus_new", "basic:USD", at_s)


def test_a_first_invoice_is_finalized_at_once_and_paying_it_activates_the_subscription() -> None:
    harness = Harness(success_probability=1.0)
    created_s = FEB_01_S + 5 * HOUR_S
    record = _new_subscription(harness, created_s)
    assert harness.types() == [
        "customer.created", "customer.subscription.created", "invoice.created", "invoice.finalized",
        "charge.succeeded", "invoice.paid", "customer.subscription.updated",
    ]
    assert harness.events[1].data.status == "incomplete"
    assert harness.events[-1].data.status == "active" and record.status == "active"
    invoice = harness.billing.invoices[record.first_invoice_id]
    assert invoice.finalized_s == created_s and invoice.status == "paid"
    assert invoice.lines[0].period_start_s == created_s
    assert record.period_end_s == created_s + 28 * DAY_S  # Feb 1 + 1 month = Mar 1, same time of day
    # The expiry check still runs after 23 h, and does nothing to a paid subscription.
    assert harness.delays_s == [23 * HOUR_S]
    events_before = len(harness.events)
    assert harness.run_next()[0] == created_s + 23 * HOUR_S
    assert record.status == "active" and len(harness.events) == events_before


def test_an_unpaid_first_invoice_is_not_dunned_and_expires_after_23_hours() -> None:
    harness = Harness(success_probability=0.0, hard_decline_share=0.0)
    created_s = FEB_01_S + 5 * HOUR_S
    record = _new_subscription(harness, created_s)
    assert harness.types()[-2:] == ["charge.failed", "invoice.payment_failed"]
    assert record.status == "incomplete"
    [(due_s, _, callback, _)] = harness.pending  # only the expiry; no dunning retry
    assert (due_s, callback) == (created_s + 23 * HOUR_S, harness.billing.expire_incomplete)
    harness.run_next()
    assert harness.types()[-2:] == ["invoice.voided", "customer.subscription.deleted"]
    assert harness.billing.invoices[record.first_invoice_id].status == "void"
    assert record.status == "incomplete_expired"
    assert harness.events[-1].data.status == "incomplete_expired"


def test_an_incomplete_subscription_can_neither_change_price_nor_renew() -> None:
    harness = Harness(success_probability=0.0)
    record = _new_subscription(harness)
    with pytest.raises(IllegalTransition):
        harness.billing.change_price(record.id, "pro:USD", harness.now_s + HOUR_S, True)
    with pytest.raises(IllegalTransition):
        harness.billing.renew(record.id, record.period_end_s)


# -- proration ------------------------------------------------------------------------------------------


def test_prorate_minor_reproduces_the_domain_example() -> None:
    period_s = int(MAR_01_S - FEB_01_S)
    half_s = int(MAR_01_S - FEB_15_S)
    assert 2 * half_s == period_s
    credit_minor = prorate_minor(1000, half_s, period_s)
    charge_minor = prorate_minor(2000, half_s, period_s)
    assert (credit_minor, charge_minor, charge_minor - credit_minor) == (500, 1000, 500)


@pytest.mark.parametrize(("amount_minor", "remaining_s", "period_s", "expected"), [
    (1, 1, 2, 1),  # 0.5 rounds up
    (3, 1, 2, 2),  # 1.5 rounds up
    (1, 1, 3, 0),  # 0.33
    (2, 1, 3, 1),  # 0.67
    (1000, 0, 2_419_200, 0),
    (1000, 2_419_200, 2_419_200, 1000),
    (1000, 1, 2_419_200, 0),  # one second of a month
    (2_419_200, 1, 2_419_200, 1),  # to the second
])
def test_prorate_minor_rounds_half_up(amount_minor: int, remaining_s: int, period_s: int, expected: int) -> None:
    assert prorate_minor(amount_minor, remaining_s, period_s) == expected


@given(st.integers(0, 10**9), st.integers(1, 400 * 86400).flatmap(lambda p: st.tuples(st.integers(0, p), st.just(p))))
def test_prorate_minor_is_the_nearest_integer_and_never_leaves_the_price(
    amount_minor: int, times: tuple[int, int],
) -> None:
    remaining_s, period_s = times
    result = prorate_minor(amount_minor, remaining_s, period_s)
    exact_twice = 2 * amount_minor * remaining_s  # compare 2 * period * result with it, in integers
    assert -period_s < 2 * period_s * result - exact_twice <= period_s
    assert 0 <= result <= amount_minor


def test_an_upgrade_at_mid_period_with_always_invoice_bills_the_domain_example_at_once() -> None:
    harness = Harness(success_probability=1.0)
    record = harness.existing(anchor_s=FEB_01_S)
    harness.now_s = FEB_15_S
    invoice = harness.billing.change_price(record.id, "pro:USD", FEB_15_S, always_invoice=True)
    assert invoice is not None and record.price.id == "pro:USD"
    credit, charge = harness.billing.invoices[invoice.id].lines
    assert (credit.kind, credit.amount_minor) == ("proration", -500)
    assert (charge.kind, charge.amount_minor) == ("proration", 1000)
    for line in (credit, charge):
        assert (line.period_start_s, line.period_end_s) == (FEB_15_S, MAR_01_S)
    paid = harness.billing.invoices[invoice.id]
    # Tax per line, half away from zero: -36.25 -> -36, 72.5 -> 73.
    assert (credit.tax_minor, charge.tax_minor) == (-36, 73)
    assert (paid.subtotal_minor, paid.tax_minor, paid.total_minor, paid.status) == (500, 37, 537, "paid")
    assert paid.finalized_s == FEB_15_S
    assert harness.types() == ["invoice.created", "invoice.finalized", "charge.succeeded", "invoice.paid"]
    assert harness.pending == [] and record.pending_lines == ()


def test_proration_is_computed_to_the_second() -> None:
    harness = Harness()
    record = harness.existing(anchor_s=FEB_01_S)
    change_s = FEB_15_S + 1.0
    invoice = harness.billing.change_price(record.id, "pro:USD", change_s, always_invoice=True)
    period_s, remaining_s = int(MAR_01_S - FEB_01_S), int(MAR_01_S - change_s)
    credit, charge = harness.billing.invoices[invoice.id].lines
    assert credit.amount_minor == -prorate_minor(1000, remaining_s, period_s) == -500
    assert charge.amount_minor == prorate_minor(2000, remaining_s, period_s) == 1000
    # 1000 * (remaining / period) is 499.9996: a second earlier changes nothing at this price, so
    # check a larger price where one second shows.
    assert prorate_minor(10**9, remaining_s, period_s) == 499_999_587


def test_without_always_invoice_the_proration_waits_for_the_next_renewal_invoice() -> None:
    harness = Harness(success_probability=1.0)
    record = harness.existing(anchor_s=FEB_01_S)
    harness.now_s = FEB_15_S
    assert harness.billing.change_price(record.id, "pro:USD", FEB_15_S, always_invoice=False) is None
    assert harness.events == [] and harness.billing.invoices == {}
    invoice = harness.renew(record, MAR_01_S)
    credit, charge, period = invoice.lines
    assert [(line.kind, line.amount_minor) for line in invoice.lines] == [
        ("proration", -500), ("proration", 1000), ("subscription", 2000)]
    assert (credit.period_start_s, credit.period_end_s) == (FEB_15_S, MAR_01_S)
    assert (charge.period_start_s, charge.period_end_s) == (FEB_15_S, MAR_01_S)
    assert (period.period_start_s, period.period_end_s) == (MAR_01_S, APR_01_S)
    assert invoice.subtotal_minor == 2500 and record.pending_lines == ()
    # The next renewal carries no proration any more.
    harness.run_all()
    later = harness.renew(record, APR_01_S)
    assert [line.kind for line in later.lines] == ["subscription"]


def test_a_downgrade_billed_at_once_becomes_a_credit_never_a_charge_or_refund() -> None:
    harness = Harness(success_probability=1.0)
    record = harness.existing(anchor_s=FEB_01_S, price_id="pro:USD")
    invoice = harness.billing.change_price(record.id, "basic:USD", FEB_15_S, always_invoice=True)
    settled = harness.billing.invoices[invoice.id]
    assert settled.subtotal_minor == -500 and settled.total_minor < 0
    assert settled.status == "paid"
    assert harness.payments.charges == {}  # nothing collected, nothing refunded
    assert harness.types() == ["invoice.created", "invoice.finalized", "invoice.paid"]


# -- cancellation ---------------------------------------------------------------------------------------


def test_cancel_at_period_end_keeps_the_subscription_active_until_the_renewal_cancels_it() -> None:
    harness = Harness()
    record = harness.existing()
    harness.billing.cancel(record.id, JAN_01_S + 10 * DAY_S)
    assert record.status == "active" and record.cancel_at_period_end
    assert harness.types() == ["customer.subscription.updated"]
    assert harness.events[0].data.cancel_at_period_end is True
    assert harness.renew(record, FEB_01_S) is None
    assert record.status == "canceled"
    assert harness.types() == ["customer.subscription.updated", "customer.subscription.deleted"]
    assert harness.billing.invoices == {} and harness.pending == []
    # Canceling again is a no-op; renewing a canceled subscription is illegal.
    harness.billing.cancel(record.id, FEB_01_S + DAY_S)
    assert len(harness.events) == 2
    with pytest.raises(IllegalTransition):
        harness.renew(record, MAR_01_S)


# -- illegal moves -----------------------------------------------------------------------------------------


def test_finalizing_an_invoice_twice_is_illegal() -> None:
    harness = Harness(success_probability=1.0)
    record = harness.existing()
    invoice = harness.renew(record, FEB_01_S)
    harness.run_next()
    events_before = len(harness.events)
    with pytest.raises(IllegalTransition) as info:
        harness.billing.finalize(invoice.id, FEB_01_S + 2 * HOUR_S)
    assert (info.value.machine, info.value.state, info.value.action) == ("invoice", "paid", "finalize")
    assert len(harness.events) == events_before


def test_finalizing_an_open_invoice_in_dunning_is_illegal() -> None:
    harness = Harness(success_probability=0.0)
    record = harness.existing()
    invoice = harness.renew(record, FEB_01_S)
    harness.run_next()
    with pytest.raises(IllegalTransition) as info:
        harness.billing.finalize(invoice.id, FEB_01_S + 2 * HOUR_S)
    assert info.value.state == "open"


def test_collecting_an_invoice_that_is_no_longer_open_does_nothing() -> None:
    harness = Harness(success_probability=1.0)
    record = harness.existing()
    invoice = harness.renew(record, FEB_01_S)
    harness.run_next()
    events_before = len(harness.events)
    harness.billing.collect(invoice.id, 2, FEB_01_S + DAY_S)
    assert len(harness.events) == events_before and len(harness.payments.charges) == 1


def test_an_unpaid_subscription_cannot_change_price() -> None:
    harness = Harness(success_probability=0.0, hard_decline_share=1.0)
    record = harness.existing()
    harness.renew(record, FEB_01_S)
    harness.run_next()
    assert record.status == "unpaid"
    with pytest.raises(IllegalTransition):
        harness.billing.change_price(record.id, "pro:USD", FEB_15_S, True)


# -- billing anchors -----------------------------------------------------------------------------------------


def test_monthly_periods_follow_the_anchor_without_drifting() -> None:
    jan_31_s = parse_utc("2026-01-31T00:00:00Z")
    harness = Harness()
    record = harness.existing(anchor_s=jan_31_s)
    ends = [record.period_end_s]
    for _ in range(4):
        harness.renew(record, record.period_end_s)
        ends.append(record.period_end_s)
    # Feb 28 is a clamp, not a new anchor: March goes back to the 31st.
    assert ends == [parse_utc(day) for day in (
        "2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z", "2026-04-30T00:00:00Z", "2026-05-31T00:00:00Z",
        "2026-06-30T00:00:00Z")]


def test_a_book_subscription_loaded_at_a_later_cycle_is_in_that_cycles_period() -> None:
    jan_31_s = parse_utc("2026-01-31T00:00:00Z")
    record = Harness().existing(anchor_s=jan_31_s, cycle=2)
    assert (record.period_start_s, record.period_end_s) == (
        parse_utc("2026-03-31T00:00:00Z"), parse_utc("2026-04-30T00:00:00Z"))


def test_annual_periods_from_a_leap_day_come_back_to_the_29th() -> None:
    leap_s = parse_utc("2024-02-29T12:00:00Z")
    harness = Harness()
    record = harness.existing(anchor_s=leap_s, price_id="basic-annual:USD")
    ends = [record.period_end_s]
    for _ in range(3):
        harness.renew(record, record.period_end_s)
        ends.append(record.period_end_s)
    assert ends == [parse_utc(f"{year}-02-{day}T12:00:00Z") for year, day in
                    ((2025, 28), (2026, 28), (2027, 28), (2028, 29))]


# -- payment faults: unknown outcomes, returned bank debits --------------------------------------------


class ScriptedPaymentFaults:
    """Payment faults decided by the test: the outcomes of the next charge calls, and returns."""

    def __init__(self, unknown: Iterable[UnknownOutcome | None] = (), return_after_s: float | None = None) -> None:
        self.unknown = deque(unknown)
        self.return_after = return_after_s

    def unknown_outcome(self, invoice_id: str, now_s: float) -> UnknownOutcome | None:
        return self.unknown.popleft() if self.unknown else None

    def return_after_s(self, charge, now_s: float) -> float | None:
        return self.return_after


def _succeeded(harness: Harness) -> list:
    return [charge for charge in harness.payments.charges.values() if charge.status == "succeeded"]


@pytest.mark.parametrize("applied", [True, False])
def test_a_timed_out_charge_is_looked_up_before_anything_else_and_charged_once(applied) -> None:
    faults = ScriptedPaymentFaults([UnknownOutcome(applied, 3600.0)])
    harness = Harness(success_probability=1.0, faults=faults)
    invoice = harness.renew(harness.existing(), FEB_01_S)
    harness.run_next()  # finalized; the charge call times out
    assert harness.billing.invoices[invoice.id].status == "open"
    assert len(_succeeded(harness)) == (1 if applied else 0)
    due_s, callback = harness.run_next()  # the lookup, an hour later
    assert due_s == FEB_01_S + 2 * HOUR_S and callback.__name__ == "_look_up"
    assert harness.billing.invoices[invoice.id].status == "paid"
    assert len(_succeeded(harness)) == 1  # found, or charged now with the same idempotency key
    looked_up = [fields for _, kind, fields in harness.trace.records if kind == "billing.payment_looked_up"]
    assert [fields["code"] for fields in looked_up] == ["succeeded" if applied else "not_found"]


def test_an_attempt_still_unknown_after_three_lookups_counts_as_failed_and_dunning_goes_on() -> None:
    """A gateway that times out every call without charging, looked up a millisecond later: billing
    called it again at once after each empty lookup, forever (a thousand times a second)."""
    faults = ScriptedPaymentFaults([UnknownOutcome(False, 0.001)] * 50)
    harness = Harness(success_probability=1.0, faults=faults)
    record = harness.existing()
    invoice = harness.renew(record, FEB_01_S)
    harness.run_next()  # finalized; the charge call times out
    for _ in range(3):
        _, callback = harness.run_next()
        assert callback.__name__ == "_look_up"
    looked_up = [fields["code"] for _, kind, fields in harness.trace.records if kind == "billing.payment_looked_up"]
    assert looked_up == ["not_found"] * 3
    failed = [fields["code"] for _, kind, fields in harness.trace.records if kind == "billing.invoice_payment_failed"]
    assert failed == ["processing_error"] and record.status == "past_due"
    [(due_s, _, callback, args)] = harness.pending  # the first dunning retry, a day later
    assert callback.__name__ == "collect" and args == (invoice.id, 2)
    assert due_s == pytest.approx(FEB_01_S + HOUR_S + 0.003 + 86400.0)


def test_without_the_lookup_a_timed_out_charge_that_went_through_charges_the_customer_twice() -> None:
    faults = ScriptedPaymentFaults([UnknownOutcome(True, 3600.0)])
    harness = Harness(success_probability=1.0, faults=faults, lookup_unknown_outcomes=False)
    invoice = harness.renew(harness.existing(), FEB_01_S)
    harness.run_next()
    harness.run_next()  # the naive re-send, a minute later, under a new idempotency key
    charges = _succeeded(harness)
    assert [charge.invoice_id for charge in charges] == [invoice.id, invoice.id]
    assert harness.billing.invoices[invoice.id].status == "paid"


def test_a_returned_bank_debit_reverses_the_charge_reopens_the_invoice_and_restarts_dunning() -> None:
    harness = Harness(success_probability=1.0, ach_share=1.0,
                      faults=ScriptedPaymentFaults(return_after_s=3 * 86400.0))
    record = harness.existing()
    invoice = harness.renew(record, FEB_01_S)
    harness.run_next()
    [charge] = _succeeded(harness)
    assert charge.method == "ach_debit" and harness.payments.returns_pending == 1
    since = len(harness.events)
    due_s, _ = harness.run_next()  # the bank's return
    assert due_s == FEB_01_S + HOUR_S + 3 * 86400.0 and harness.payments.returns_pending == 0
    assert harness.types(since)[:2] == ["charge.reversed", "invoice.reopened"]
    reversed_charge = harness.events[since].data
    assert (reversed_charge.status, reversed_charge.decline_code, reversed_charge.reversed_s) == (
        "reversed", "R01", due_s)
    reopened = harness.billing.invoices[invoice.id]
    assert (reopened.status, reopened.amount_paid_minor, reopened.reopened) == ("open", 0, 1)
    assert record.status == "past_due"
    next_due_s, callback = harness.run_next()  # dunning starts over a day after the return
    assert next_due_s == due_s + 86400.0 and callback == harness.billing.collect
    assert harness.billing.invoices[invoice.id].status == "paid"


def test_card_payments_are_never_returned() -> None:
    harness = Harness(success_probability=1.0, ach_share=0.0, faults=ScriptedPaymentFaults(return_after_s=1.0))
    harness.renew(harness.existing(), FEB_01_S)
    harness.run_all()
    assert harness.payments.returns_pending == 0 and "charge.reversed" not in harness.types()
