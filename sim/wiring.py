"""How a scenario's values become the fakes' settings and the engine's ERP client: written once, so
the simulated world, the fakes served over HTTP, the conformance runs and the benchmarks build the
same systems from the same scenario.

Each function reads only the scenario (and the seed, for a component's random stream); what differs
between callers (the trace, the fault plan, the runtime) is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable

from rehearse.fakes.billing import BillingSettings
from rehearse.fakes.erp import Erp
from rehearse.fakes.payments import PaymentSettings
from rehearse.sim.distributions import LogNormal
from rehearse.sim.erp_client import InProcessErpClient
from rehearse.sim.faults import FaultPlan
from rehearse.sim.scenario import Scenario
from rehearse.sim.seeds import stream
from rehearse.sync.model import Price
from rehearse.sync.ports import Runtime


def price_id(plan_id: str, currency: str) -> str:
    """The id of a plan's price in one currency."""
    return f"{plan_id}:{currency}"


def prices(scenario: Scenario) -> dict[str, Price]:
    """Every plan's price in each of its currencies, by price id."""
    return {
        price_id(plan.id, currency): Price(price_id(plan.id, currency), plan.id, plan.interval, currency, amount)
        for plan in scenario.plans for currency, amount in sorted(plan.prices_minor.items())
    }


def billing_settings(scenario: Scenario) -> BillingSettings:
    """The billing platform's behaviour from `[billing]`."""
    billing = scenario.billing
    return BillingSettings(billing.finalize_delay_s, tuple(billing.dunning_retry_days), billing.exhausted_action,
                           lookup_unknown_outcomes=billing.lookup_unknown_outcomes,
                           recovery_share=billing.recovery_share, recovery_after_days=billing.recovery_after_days)


def payment_settings(scenario: Scenario) -> PaymentSettings:
    """The gateway's outcome probabilities and payment methods from `[payments]`."""
    payments = scenario.payments
    return PaymentSettings(payments.success_probability, payments.retry_success_probability,
                           payments.hard_decline_share, payments.ach_share)


def missing_entities(faults: FaultPlan) -> frozenset[str]:
    """The legal entities a `missing_subsidiary` fault takes out of the ERP's master data."""
    return frozenset(fault.entity for fault in faults.of("missing_subsidiary"))


def new_erp(scenario: Scenario, trace, *, missing: Iterable[str] = ()) -> Erp:
    """The ERP fake from `[erp]`, with a subsidiary for each legal entity not in `missing`."""
    missing = frozenset(missing)
    return Erp(entities={entity.id: entity.currency for entity in scenario.entities if entity.id not in missing},
               concurrency_limit=scenario.erp.concurrency_limit, trace=trace,
               retry_after_s=scenario.erp.retry_after_s)


def erp_latency(scenario: Scenario, seed: int) -> LogNormal:
    """The ERP's processing time per call, from `[erp]`, on its own random stream."""
    return LogNormal(scenario.erp.latency_ms_p50, scenario.erp.latency_ms_p95, stream(seed, "erp/latency"))


def webhook_latency(scenario: Scenario, seed: int) -> LogNormal:
    """A webhook delivery's latency, from `[billing]`, on its own random stream."""
    billing = scenario.billing
    return LogNormal(billing.webhook_latency_ms_p50, billing.webhook_latency_ms_p95, stream(seed, "webhooks/latency"))


def erp_client(scenario: Scenario, seed: int, *, runtime: Runtime, erp: Erp, trace, faults: FaultPlan,
               contracts=None) -> InProcessErpClient:
    """The engine's in-process ERP client: the scenario's ERP latency, meeting `faults`' call faults."""
    return InProcessErpClient(runtime=runtime, erp=erp, latency=erp_latency(scenario, seed),
                              rng=stream(seed, "faults/erp"), trace=trace, faults=faults, contracts=contracts)
