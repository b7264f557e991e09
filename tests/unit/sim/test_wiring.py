"""One wiring of the fakes from a scenario: the simulated world and the served fakes build the same
settings, and every scenario value the fakes read reaches them."""

from __future__ import annotations

import simpy

from rehearse.sim import wiring
from rehearse.sim.faults import FaultPlan
from rehearse.sim.http_faults import LiveClock
from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.scenario import load
from rehearse.sim.served import ServedFakes
from rehearse.sim.simpy_runtime import SimPyRuntime
from rehearse.sim.world import World
from rehearse.sync.model import ErpDocument

OVERRIDES = ["payments.ach_share=0.25", "payments.success_probability=0.8", "billing.lookup_unknown_outcomes=false",
             "billing.finalize_delay_s=1800", 'billing.exhausted_action="canceled"']


def _customer(entity: str, currency: str) -> ErpDocument:
    return ErpDocument("customer", "cus_1", "cus_1", "", entity, currency, 0, 0, 1769817600.0, "2026-01", (), ())


def test_settings_carry_every_scenario_value() -> None:
    scenario, _ = load("smoke", OVERRIDES)
    payments = wiring.payment_settings(scenario)
    billing = wiring.billing_settings(scenario)
    assert (payments.ach_share, payments.success_probability) == (0.25, 0.8)
    assert (billing.lookup_unknown_outcomes, billing.finalize_delay_s, billing.exhausted_action) == \
        (False, 1800.0, "canceled")


def test_world_and_served_fakes_are_built_alike() -> None:
    scenario, _ = load("smoke", OVERRIDES)
    world = World(scenario, 1, SimPyRuntime(simpy.Environment(initial_time=scenario.run.start_s)), TraceRecorder())
    served = ServedFakes(scenario, 1, clock=LiveClock(scenario.run.start_s), erp_latency=False)
    assert served.payments.settings == world.payments.settings == wiring.payment_settings(scenario)
    assert served.billing.settings == world.billing.settings == wiring.billing_settings(scenario)
    assert served.prices == world.prices == wiring.prices(scenario)
    assert served.erp.concurrency_limit == world.erp.concurrency_limit == scenario.erp.concurrency_limit


def test_prices_are_keyed_by_plan_and_currency() -> None:
    scenario, _ = load("smoke")
    prices = wiring.prices(scenario)
    expected = {f"{plan.id}:{currency}": amount for plan in scenario.plans
                for currency, amount in plan.prices_minor.items()}
    assert {key: price.unit_amount_minor for key, price in prices.items()} == expected
    assert all(price.id == key for key, price in prices.items())


def test_a_missing_subsidiary_is_left_out_of_the_erp() -> None:
    scenario, _ = load("missing-master-data")
    missing = wiring.missing_entities(FaultPlan(scenario.faults))
    assert missing == {"EU01"}
    entities = {entity.id: entity.currency for entity in scenario.entities}
    erp = wiring.new_erp(scenario, TraceRecorder(), missing=missing)
    refused = erp.post(_customer("EU01", entities["EU01"]), scenario.run.start_s, scenario.run.start_s)
    assert (refused.status, refused.code) == (400, "INVALID_KEY_OR_REF")
    others = [entity for entity in entities if entity != "EU01"]
    accepted = erp.post(_customer(others[0], entities[others[0]]), scenario.run.start_s, scenario.run.start_s)
    assert accepted.status < 300
    # The served fakes drop it too when their fault plan has the fault.
    served = ServedFakes(scenario, 1, clock=LiveClock(scenario.run.start_s), erp_latency=False,
                         faults=FaultPlan(scenario.faults))
    assert served.erp.post(_customer("EU01", entities["EU01"]), 0.0, 0.0).code == "INVALID_KEY_OR_REF"


def test_the_erp_client_draws_the_scenario_latency() -> None:
    scenario, _ = load("smoke", ["erp.latency_ms_p50=200", "erp.latency_ms_p95=200"])
    runtime = SimPyRuntime(simpy.Environment())
    erp = wiring.new_erp(scenario, TraceRecorder())
    client = wiring.erp_client(scenario, 1, runtime=runtime, erp=erp, trace=TraceRecorder(), faults=FaultPlan([]))
    assert client.latency.sample_s() == 0.2  # p50 == p95: no spread
    assert client.erp is erp


def test_every_reader_shares_the_worlds_fault_plan_even_when_it_starts_empty() -> None:
    # An empty FaultPlan used to be falsy; `faults or FaultPlan([])` swapped it for another plan, so
    # a fault added to the world's plan later never reached the ERP client or the webhook sender.
    scenario, _ = load("smoke", ["faults=[]"])
    world = World(scenario, 1, SimPyRuntime(simpy.Environment(initial_time=scenario.run.start_s)), TraceRecorder())
    assert world.faults.empty
    assert world.erp_client.faults is world.faults and world.webhooks.faults is world.faults
    served = ServedFakes(scenario, 1, clock=LiveClock(scenario.run.start_s), erp_latency=False, faults=world.faults)
    assert served.faults.plan is world.faults


def test_the_served_fakes_keep_an_empty_trace_recorder() -> None:
    # A TraceRecorder with nothing in it has len 0 and is falsy: `trace or _NullTrace()` dropped it.
    scenario, _ = load("smoke")
    recorder = TraceRecorder()
    served = ServedFakes(scenario, 1, clock=LiveClock(scenario.run.start_s), erp_latency=False, trace=recorder)
    assert served.trace is recorder and served.erp.post(_customer("US01", "USD"), 0.0, 0.0).status < 300
    assert len(recorder) > 0  # the ERP's erp.document record reached it
