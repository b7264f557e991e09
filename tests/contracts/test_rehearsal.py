"""Rehearsals from Python (`rehearse.contracts.rehearsal`), which the pytest plugin hands out:
a stepped world run to the end is `rehearse run`, byte for byte; faults go in and out while it
runs; mistakes are refused with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from rehearse.contracts.rehearsal import RehearsalError, SteppedWorld, load_scenario, rehearse

PEAK = ["run.traffic_days=0.25", "traffic.subscriptions=300"]
MINIMAL_ENGINE = Path(__file__).resolve().parents[2] / "examples" / "minimal_engine.py"


@pytest.fixture(scope="module")
def peak():
    return load_scenario("smoke", PEAK)


def test_stepped_world_run_to_the_end_is_rehearse_run(peak):
    whole = rehearse(peak, seed=11)
    world = SteppedWorld(peak, 11)
    world.run_for(minutes=37)
    world.run_until("2026-02-01T01:00:00Z")
    world.run_for(hours=1, seconds=0.5)
    stepped = world.run_to_end()
    metrics = {key: value for key, value in whole.metrics.items() if key != "wall"}
    assert json.dumps(stepped.metrics, sort_keys=True) == json.dumps(metrics, sort_keys=True)
    assert stepped.trace.equals(whole.trace)
    assert whole.passed and whole.failed_gates == []
    assert whole.metric("reconciliation.invoices.missing") == 0
    assert whole.gate("accuracy_min") == {"name": "accuracy_min", "value": 1.0, "limit": 1.0, "passed": True}
    with pytest.raises(KeyError, match="no gate 'nope' in this scenario"):
        whole.gate("nope")
    with pytest.raises(KeyError, match="no metric 'reconciliation.nope'"):
        whole.metric("reconciliation.nope")
    assert repr(whole).startswith("Outcome(scenario='smoke', seed=11, passed=True")


def test_an_injected_outage_stops_posting_and_is_recovered(peak):
    world = SteppedWorld(peak, 2)
    world.run_until("2026-02-01T01:00:00Z")  # the peak's invoices are finalized now
    outage = world.inject({"kind": "outage", "system": "erp"}, for_s=1800)
    posted = len(world.erp.invoices)
    world.run_for(minutes=29)
    assert len(world.erp.invoices) == posted
    world.run_for(minutes=30)
    assert len(world.erp.invoices) > posted
    world.remove(outage)
    outcome = world.run_to_end()
    faults = {row["kind"]: row for row in outcome.metrics["faults"]}
    assert faults["outage"]["injected"] > 0 and faults["outage"]["recovered"] == faults["outage"]["affected"]
    assert outcome.metric("reconciliation.invoices.missing") == 0
    windows = outcome.trace.filter(pl.col("kind") == "fault.window", pl.col("code") == "outage")
    assert windows.height == 1 and windows["t_s"][0] == world.scenario.run.start_s + 3600


def test_an_engine_crash_loses_nothing_with_a_durable_store(peak):
    world = SteppedWorld(peak, 3)
    world.run_until("2026-02-01T01:00:10Z")
    world.crash_engine(restart_after_s=120)
    assert not world.engine.up
    with pytest.raises(RehearsalError, match="already down"):
        world.crash_engine()
    world.run_for(minutes=3)
    assert world.engine.up
    outcome = world.run_to_end()
    assert outcome.passed, outcome.failed_gates


def test_mistakes_are_refused_with_a_reason(peak):
    with SteppedWorld(peak, 4) as world:
        with pytest.raises(RehearsalError, match="kind 'engine_crash' cannot be injected"):
            world.inject({"kind": "engine_crash", "at": ["2026-02-01T01:00:00Z"]})
        with pytest.raises(RehearsalError, match=r"inject: fault.probability: Input should be less than or equal to 1"):
            world.inject({"kind": "server_error", "probability": 1.5})
        with pytest.raises(RehearsalError, match="either for_s or a window"):
            world.inject({"kind": "outage", "window": {"start": "2026-02-01T01:00:00Z"}}, for_s=60)
        world.run_for(hours=1)
        with pytest.raises(RehearsalError, match="before now"):
            world.run_until("2026-02-01T00:30:00Z")
        with pytest.raises(RehearsalError, match="not a UTC time"):
            world.run_until("tomorrow")
        # Infinity used to step forever (gap-fill and the operator never stop); NaN is no time either.
        for endless in (float("inf"), float("nan")):
            with pytest.raises(RehearsalError, match="is not a finite time"):
                world.run_for(hours=endless)
            with pytest.raises(RehearsalError, match="is not a finite time"):
                world.run_until(endless)
            with pytest.raises(RehearsalError, match="for_s must be a positive, finite number of seconds"):
                world.inject({"kind": "outage", "system": "erp"}, for_s=endless)
            with pytest.raises(RehearsalError, match="restart_after_s must be a finite number of seconds"):
                world.crash_engine(restart_after_s=endless)
        with pytest.raises(RehearsalError, match="restart_after_s must be a finite number of seconds, at least 0"):
            world.crash_engine(restart_after_s=-1.0)
        assert world.engine.up and world.now == "2026-02-01T01:00:00Z"  # nothing was done
        for seed in (-1, 1.5, "7", True, None.__class__):
            with pytest.raises(RehearsalError, match="seed must be a whole number, at least 0"):
                SteppedWorld(peak, seed)
            with pytest.raises(RehearsalError, match="seed must be a whole number, at least 0"):
                rehearse(peak, seed=seed)
        world.run_for(hours=6)  # past the traffic window: faults are healed
        with pytest.raises(RehearsalError, match="faults healed at the end of the traffic window"):
            world.inject({"kind": "outage"})
        first = world.finish()
        assert world.finish() is first
        with pytest.raises(RehearsalError, match="this world is finished"):
            world.run_for(hours=1)
    with pytest.raises(RehearsalError, match="erp.concurency_limit: unknown key"):
        load_scenario("smoke", ["erp.concurency_limit=3"])
    with pytest.raises(RehearsalError,
                       match="engine.pattern: Input should be 'p2p', 'batch', 'event' or 'orchestrated'"):
        rehearse("smoke", engine="telepathy")
    with pytest.raises(RehearsalError, match="overrides need a scenario name or path"):
        load_scenario(peak, ["run.seed=2"])


def test_one_override_text_is_one_override_not_its_characters():
    assert load_scenario("smoke", "traffic.subscriptions=20").traffic.subscriptions == 20
    assert load_scenario("smoke", ["traffic.subscriptions=20"]).traffic.subscriptions == 20


def test_an_outside_engine_that_keeps_no_store_finishes_and_closes():
    """`finish` and `close` used to close `engine.store`, which an outside engine need not have."""
    scenario = load_scenario("smoke", [*PEAK, f'engine.factory="{MINIMAL_ENGINE}:create"'])
    outcome = SteppedWorld(scenario, 3).run_to_end()
    assert outcome.metric("reconciliation.invoices.missing") == 0
    assert outcome.metric("reconciliation.payments.duplicated") == 0
    with SteppedWorld(scenario, 3) as world:  # closed before it finishes
        world.run_for(minutes=30)


def test_a_world_too_big_for_the_memory_is_refused_unless_asked_not_to_check(peak, monkeypatch):
    from rehearse.sim import preflight

    monkeypatch.setattr(preflight, "memory_available_mib", lambda: 100.0)
    with pytest.raises(RehearsalError, match="traffic.subscriptions=300") as refused:
        rehearse(peak, seed=3)
    assert "pass memory_check=False to run anyway" in str(refused.value)
    with pytest.raises(RehearsalError, match="0.1 GiB this machine has available"):
        SteppedWorld(peak, 3)
    assert rehearse(peak, seed=3, memory_check=False).passed
    with SteppedWorld(peak, 3, memory_check=False) as world:
        world.run_for(minutes=10)
