"""Unit tests of the payments gateway, tax engine and CRM fakes (DOMAIN.md sections 1, 3 and 4)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, strategies as st

from rehearse.fakes.crm import Crm
from rehearse.fakes.events import EventLog
from rehearse.fakes.machine import IllegalTransition
from rehearse.fakes.payments import ChargeOutcomeUnknown, PaymentSettings, PaymentsGateway, UnknownOutcome
from rehearse.fakes.payments.states import HARD_DECLINES, SOFT_DECLINES
from rehearse.fakes.tax import DEFAULT_RATES_BPS, TaxAddressError, TaxEngine
from rehearse.sync.model import Address, Charge, Event, Invoice

NOW_S = 1_769_904_000.0  # 2026-02-01T00:00:00Z


class TraceRecorder:
    """A trace that keeps every record as (t_s, kind, fields)."""

    def __init__(self) -> None:
        self.records: list[tuple[float, str, dict[str, Any]]] = []

    def emit(self, t_s: float, kind: str, **fields: Any) -> None:
        self.records.append((t_s, kind, fields))


def make_invoice(invoice_id: str = "in_1", total_minor: int = 1073, amount_paid_minor: int = 0) -> Invoice:
    return Invoice(invoice_id, "cus_1", "sub_1", "US01", "USD", "open", (), total_minor, 0, total_minor,
                   amount_paid_minor, NOW_S, NOW_S)


def make_gateway(*, seed: int = 1, success: float = 0.5, retry_success: float = 0.5, hard_share: float = 0.15,
                 events: list[Event] | None = None, trace: TraceRecorder | None = None) -> PaymentsGateway:
    return PaymentsGateway(
        settings=PaymentSettings(success, retry_success, hard_share), rng=random.Random(seed),
        events=EventLog((events if events is not None else []).append), trace=trace or TraceRecorder())


def us_address(postal_code: str = "94105", region: str = "CA") -> Address:
    return Address("1 Market St", "San Francisco", region, postal_code, "US")


# -- payments ---------------------------------------------------------------------------------------------


class TimeoutFaults:
    """Every charge call times out with the given outcome."""

    def __init__(self, applied: bool) -> None:
        self.applied = applied

    def unknown_outcome(self, invoice_id: str, now_s: float) -> UnknownOutcome:
        return UnknownOutcome(self.applied, 900.0)

    def return_after_s(self, charge: Charge, now_s: float) -> None:
        return None


@pytest.mark.parametrize("applied", [True, False])
def test_a_timed_out_charge_is_found_by_its_idempotency_key_only_if_it_was_made(applied: bool) -> None:
    events: list[Event] = []
    gateway = PaymentsGateway(settings=PaymentSettings(1.0, 1.0, 0.0), rng=random.Random(1),
                              events=EventLog(events.append), trace=TraceRecorder(), faults=TimeoutFaults(applied))
    with pytest.raises(ChargeOutcomeUnknown) as info:
        gateway.charge(make_invoice(), 1, NOW_S, "in_1:1")
    assert (info.value.idempotency_key, info.value.lookup_after_s) == ("in_1:1", 900.0)
    found = gateway.lookup("in_1:1")
    if applied:  # made, and its webhook went out: only the reply was lost
        assert found is not None and found.status == "succeeded"
        assert [event.type for event in events] == ["charge.succeeded"]
        assert gateway.charge(make_invoice(), 1, NOW_S + 900, "in_1:1") == found  # idempotent
        assert len(gateway.charges) == 1
    else:
        assert found is None and events == [] and gateway.charges == {}
    assert gateway.lookup("in_1:2") is None


def test_the_payment_method_is_a_stable_share_of_customers() -> None:
    gateway = PaymentsGateway(settings=PaymentSettings(ach_share=0.3), rng=random.Random(1),
                              events=EventLog([].append), trace=TraceRecorder())
    methods = [gateway.method_of(f"cus_{i}") for i in range(2000)]
    assert methods == [gateway.method_of(f"cus_{i}") for i in range(2000)]
    assert 0.25 < methods.count("ach_debit") / 2000 < 0.35
    assert make_gateway().method_of("cus_1") == "card"  # no bank debits unless a share is set


def _outcomes(gateway: PaymentsGateway, attempts: int = 60) -> list[tuple[str, str]]:
    charges = [gateway.charge(make_invoice(f"in_{i}"), 1 + i % 3, NOW_S + i) for i in range(attempts)]
    return [(charge.status, charge.decline_code) for charge in charges]


def test_charge_outcomes_are_deterministic_for_a_seed() -> None:
    first = _outcomes(make_gateway(seed=42))
    assert first == _outcomes(make_gateway(seed=42))
    assert first != _outcomes(make_gateway(seed=43))
    statuses = {status for status, _ in first}
    assert statuses == {"succeeded", "failed"}  # the seed exercises both


def test_the_charge_amount_is_what_is_still_due_on_the_invoice() -> None:
    events: list[Event] = []
    trace = TraceRecorder()
    gateway = make_gateway(success=1.0, events=events, trace=trace)
    charge = gateway.charge(make_invoice(total_minor=1073, amount_paid_minor=73), 1, NOW_S)
    assert charge == Charge("ch_1", "in_1", "cus_1", "US01", "USD", 1000, "succeeded", "", NOW_S)
    assert gateway.charges == {"ch_1": charge}
    assert [(event.id, event.type, event.data) for event in events] == [("evt_1", "charge.succeeded", charge)]
    [(t_s, kind, fields)] = trace.records
    assert (t_s, kind, fields["object_id"], fields["parent_id"], fields["amount_minor"]) == (
        NOW_S, "payments.charge_succeeded", "ch_1", "in_1", 1000)


def test_a_failed_charge_also_asks_for_what_is_due_and_is_published() -> None:
    events: list[Event] = []
    gateway = make_gateway(success=0.0, retry_success=0.0, events=events)
    charge = gateway.charge(make_invoice(total_minor=500, amount_paid_minor=200), 1, NOW_S)
    assert (charge.status, charge.amount_minor) == ("failed", 300)
    assert [event.type for event in events] == ["charge.failed"]


def test_hard_and_soft_decline_codes_follow_the_domain_lists() -> None:
    assert set(SOFT_DECLINES) == {"insufficient_funds", "generic_decline", "do_not_honor", "authentication_required"}
    assert set(HARD_DECLINES) == {"fraudulent", "lost_card", "stolen_card"}
    hard = make_gateway(success=0.0, retry_success=0.0, hard_share=1.0)
    soft = make_gateway(success=0.0, retry_success=0.0, hard_share=0.0)
    hard_codes = {hard.charge(make_invoice(f"in_{i}"), 1, NOW_S).decline_code for i in range(60)}
    soft_codes = {soft.charge(make_invoice(f"in_{i}"), 1, NOW_S).decline_code for i in range(60)}
    assert hard_codes == set(HARD_DECLINES) and soft_codes == set(SOFT_DECLINES)
    assert all(PaymentsGateway.is_hard_decline(charge) for charge in hard.charges.values())
    assert not any(PaymentsGateway.is_hard_decline(charge) for charge in soft.charges.values())


def test_a_succeeded_charge_is_not_a_hard_decline() -> None:
    charge = make_gateway(success=1.0).charge(make_invoice(), 1, NOW_S)
    assert not PaymentsGateway.is_hard_decline(charge)


def test_first_attempts_and_retries_use_their_own_probabilities() -> None:
    gateway = make_gateway(success=1.0, retry_success=0.0, hard_share=0.0)
    assert gateway.charge(make_invoice("in_1"), 1, NOW_S).status == "succeeded"
    assert gateway.charge(make_invoice("in_2"), 2, NOW_S).status == "failed"
    gateway = make_gateway(success=0.0, retry_success=1.0, hard_share=0.0)
    assert gateway.charge(make_invoice("in_3"), 1, NOW_S).status == "failed"
    assert gateway.charge(make_invoice("in_3"), 2, NOW_S).status == "succeeded"


def test_a_failed_intent_can_be_retried_but_a_succeeded_one_cannot_be_charged_again() -> None:
    gateway = make_gateway(success=0.0, retry_success=1.0, hard_share=0.0)
    gateway.charge(make_invoice(), 1, NOW_S)
    assert gateway.intent_states["in_1"] == "requires_payment_method"
    gateway.charge(make_invoice(), 2, NOW_S + 86400)
    assert gateway.intent_states["in_1"] == "succeeded"
    with pytest.raises(IllegalTransition) as info:
        gateway.charge(make_invoice(), 3, NOW_S + 2 * 86400)
    assert (info.value.machine, info.value.state) == ("payment_intent", "succeeded")
    assert [charge.id for charge in gateway.charges.values()] == ["ch_1", "ch_2"]


# -- tax --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("amount_minor", "rate_bps", "expected"), [
    (1000, 725, 73),  # 72.5 -> 73
    (-1000, 725, -73),  # -72.5 -> -73, away from zero
    (1, 5000, 1),  # 0.5 -> 1
    (-1, 5000, -1),  # -0.5 -> -1
    (3, 5000, 2),  # 1.5 -> 2
    (-3, 5000, -2),
    (1, 4999, 0),  # 0.4999 -> 0
    (-1, 4999, 0),
    (500, 725, 36),  # 36.25 -> 36
    (-500, 725, -36),
    (2900, 1900, 551),
    (0, 2000, 0),
    (12345, 0, 0),
])
def test_tax_is_rounded_half_away_from_zero(amount_minor: int, rate_bps: int, expected: int) -> None:
    assert TaxEngine.tax_minor(amount_minor, rate_bps) == expected


@given(st.integers(-10**12, 10**12), st.integers(0, 10_000))
def test_tax_is_the_nearest_integer_and_symmetric_around_zero(amount_minor: int, rate_bps: int) -> None:
    tax = TaxEngine.tax_minor(amount_minor, rate_bps)
    assert TaxEngine.tax_minor(-amount_minor, rate_bps) == -tax
    error = tax * 10_000 - amount_minor * rate_bps  # in 1/10,000 of a minor unit
    assert abs(error) <= 5000
    if abs(error) == 5000:  # a tie went away from zero
        assert abs(tax * 10_000) > abs(amount_minor * rate_bps)


@pytest.mark.parametrize("postal_code", ["", "9410", "941", "abcde", "9410A", "    ", "ZIP"])
def test_a_us_address_without_a_five_digit_zip_is_error_176(postal_code: str) -> None:
    with pytest.raises(TaxAddressError) as info:
        TaxEngine().rate_bps(us_address(postal_code))
    assert info.value.code == 176
    assert repr(postal_code) in info.value.message or (not postal_code and "no postal code" in info.value.message)


@pytest.mark.parametrize("postal_code", ["94105", "94105-1234", "941051234"])
def test_a_us_address_with_a_five_digit_zip_is_taxed(postal_code: str) -> None:
    assert TaxEngine().rate_bps(us_address(postal_code)) == 725


def test_a_region_without_its_own_rate_falls_back_to_the_country() -> None:
    engine = TaxEngine()
    assert engine.rate_bps(us_address(region="ZZ")) == DEFAULT_RATES_BPS[("US", "")] == 500
    assert engine.rate_bps(Address("Unter den Linden 1", "Berlin", "BE", "10117", "DE")) == 1900
    assert engine.rate_bps(Address("Rue 1", "Paris", "", "75001", "FR")) == 2000


def test_a_zero_rate_region_is_zero_not_the_country_fallback() -> None:
    assert TaxEngine().rate_bps(us_address("97201", region="OR")) == 0


def test_non_us_addresses_need_no_us_zip_but_a_postal_code() -> None:
    assert TaxEngine().rate_bps(Address("Main St 1", "Dublin", "", "D02 X285", "IE")) == 2300
    with pytest.raises(TaxAddressError):
        TaxEngine().rate_bps(Address("Main St 1", "Dublin", "", "", "IE"))


def test_a_country_without_a_jurisdiction_is_error_176() -> None:
    with pytest.raises(TaxAddressError) as info:
        TaxEngine().rate_bps(Address("1 Chome", "Tokyo", "", "100-0001", "JP"))
    assert info.value.code == 176 and "JP" in info.value.message


def test_custom_rates_replace_the_defaults_and_are_copied() -> None:
    rates = {("US", ""): 100}
    engine = TaxEngine(rates)
    rates[("US", "")] = 9999
    assert engine.rate_bps(us_address(region="CA")) == 100


def test_tax_address_error_survives_reconstruction_from_args() -> None:
    error = TaxAddressError(176, "not enough address information")
    again = type(error)(*error.args)
    assert (again.code, again.message) == (176, "not enough address information")


# -- CRM --------------------------------------------------------------------------------------------------


def make_crm() -> tuple[Crm, TraceRecorder]:
    trace = TraceRecorder()
    return Crm(trace=trace), trace


def test_ensure_account_creates_a_prospect_once() -> None:
    crm, trace = make_crm()
    account = crm.ensure_account("cus_1", "Acme", "US01")
    assert (account.id, account.name, account.entity, account.status) == ("cus_1", "Acme", "US01", "prospect")
    again = crm.ensure_account("cus_1", "Other name", "EU01", status="customer")
    assert again is account and account.status == "prospect" and account.entity == "US01"
    assert crm.ensure_account("cus_2", "Beta", "EU01", status="customer").status == "customer"
    assert trace.records == []


def test_winning_a_deal_makes_the_account_a_customer() -> None:
    crm, trace = make_crm()
    crm.ensure_account("cus_1", "Acme", "US01")
    opportunity = crm.win_deal("cus_1", "starter:USD", NOW_S)
    assert (opportunity.id, opportunity.stage, opportunity.price_id, opportunity.amendments) == (
        "opp_1", "closed_won", "starter:USD", 0)
    assert crm.accounts["cus_1"].status == "customer"
    assert trace.records == [(NOW_S, "crm.deal_won", {
        "object_id": "opp_1", "ref_id": "cus_1", "entity": "US01", "code": "starter:USD"})]
    # A second deal for a customer is another opportunity; the account stays a customer.
    second = crm.win_deal("cus_1", "growth:USD", NOW_S + 1)
    assert second.id == "opp_2" and crm.accounts["cus_1"].status == "customer"


def test_amending_a_won_deal_changes_its_plan_and_counts_amendments() -> None:
    crm, trace = make_crm()
    crm.ensure_account("cus_1", "Acme", "US01")
    opportunity = crm.win_deal("cus_1", "starter:USD", NOW_S)
    crm.amend(opportunity.id, "growth:USD", NOW_S + 10)
    crm.amend(opportunity.id, "starter:USD", NOW_S + 20)
    assert (opportunity.stage, opportunity.price_id, opportunity.amendments) == ("closed_won", "starter:USD", 2)
    assert [kind for _, kind, _ in trace.records] == ["crm.deal_won", "crm.deal_amended", "crm.deal_amended"]
    assert trace.records[1] == (NOW_S + 10, "crm.deal_amended",
                                {"object_id": "opp_1", "ref_id": "cus_1", "code": "growth:USD"})


def test_an_imported_won_deal_is_silent_and_can_be_amended() -> None:
    crm, trace = make_crm()
    crm.ensure_account("cus_1", "Acme", "US01", status="customer")
    opportunity = crm.import_won_deal("cus_1", "starter:USD")
    assert opportunity.stage == "closed_won" and trace.records == []
    crm.amend(opportunity.id, "growth:USD", NOW_S)
    assert opportunity.price_id == "growth:USD"


def test_churn_then_win_back() -> None:
    crm, trace = make_crm()
    crm.ensure_account("cus_1", "Acme", "US01")
    crm.win_deal("cus_1", "starter:USD", NOW_S)
    crm.churn("cus_1", NOW_S + 1)
    assert crm.accounts["cus_1"].status == "churned"
    assert trace.records[-1] == (NOW_S + 1, "crm.account_churned", {"object_id": "cus_1", "entity": "US01"})
    crm.win_deal("cus_1", "starter:USD", NOW_S + 2)
    assert crm.accounts["cus_1"].status == "customer"


@pytest.mark.parametrize("status", ["prospect", "churned"])
def test_only_a_customer_can_churn(status: str) -> None:
    crm, trace = make_crm()
    crm.ensure_account("cus_1", "Acme", "US01", status=status)
    with pytest.raises(IllegalTransition) as info:
        crm.churn("cus_1", NOW_S)
    assert (info.value.machine, info.value.state, info.value.action) == ("account", status, "churn")
    assert crm.accounts["cus_1"].status == status and trace.records == []


def test_an_open_opportunity_cannot_be_amended() -> None:
    crm, trace = make_crm()
    crm.ensure_account("cus_1", "Acme", "US01")
    opportunity = crm.win_deal("cus_1", "starter:USD", NOW_S)
    opportunity.stage = "open"  # as if the deal had never closed
    with pytest.raises(IllegalTransition) as info:
        crm.amend(opportunity.id, "growth:USD", NOW_S)
    assert (info.value.state, info.value.action) == ("open", "amend")
    assert opportunity.price_id == "starter:USD" and opportunity.amendments == 0
    assert len(trace.records) == 1


def test_a_deal_for_an_unknown_account_is_refused() -> None:
    crm, _ = make_crm()
    with pytest.raises(KeyError):
        crm.win_deal("cus_404", "starter:USD", NOW_S)
    assert crm.opportunities == {}
