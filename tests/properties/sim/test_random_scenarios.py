"""Random scenarios run to their end. Each draw is small-peak with random overrides from a seeded
`random.Random(index)`: any pattern and engine switches, zero to five faults from the whole
catalogue (windows at the run's edges, recurring, overlapping ones of the same kind), period closes
(before the run, for one entity or all), operator, ERP, billing (recoveries of written-off invoices
included), payment and traffic settings. The
loader may refuse a draw and a run may fail its gates; neither may raise anything else.

Over 3,000 draws on 2026-11-27 this found five crashes (a missing subsidiary for every entity, a
period closed in a missing subsidiary, an orchestrated replay while the engine was down, a crash
during gap-fill, an event replay message reusing its id); each has its own test now. The suite runs
the first `REHEARSE_RANDOM_SCENARIOS` draws (default 8); more, with the cores:

    REHEARSE_RANDOM_SCENARIOS=500 python3 -m uv run pytest -n 2 tests/properties/sim/test_random_scenarios.py
"""

from __future__ import annotations

import json
import os
import random

import pytest

from rehearse.sim import runner
from rehearse.sim.scenario import ScenarioError, load
from rehearse.sync.model import format_utc, parse_utc

DRAWS = int(os.environ.get("REHEARSE_RANDOM_SCENARIOS", "8"))
PEAK_S = parse_utc("2026-02-01T00:00:00Z")
FAULT_KINDS = (
    "latency", "degradation", "server_error", "throttle", "connect_timeout", "reply_lost", "outage", "maintenance",
    "lock_conflict", "concurrency_cap", "engine_crash", "missing_subsidiary", "tax_address", "schema_drift",
    "payment_unknown_outcome", "ach_failure", "webhook_duplicate", "webhook_delay", "webhook_drop", "receiver_down",
)
WINDOW_REQUIRED = ("degradation", "outage", "maintenance", "concurrency_cap", "schema_drift", "receiver_down")


def literal(value) -> str:
    """A value as the TOML literal `--set` takes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    return "{" + ", ".join(f"{key} = {literal(item)}" for key, item in value.items()) + "}"


class Draw:
    """One random scenario's overrides, and the moments of its run."""

    def __init__(self, index: int) -> None:
        self.rng = random.Random(index)
        self.overrides: list[str] = []

    def set(self, key: str, value, chance: float = 1.0) -> None:
        if self.rng.random() < chance:
            self.overrides.append(f"{key}={literal(value)}")

    def probability(self) -> float:
        choice = self.rng.random()
        if choice < 0.15:
            return 0.0
        if choice < 0.25:
            return 1.0
        return self.rng.choice([1e-9, 0.001, 0.999999, round(self.rng.random(), 4)])

    def moment_s(self) -> float:
        """A moment at an edge of the run, at the peak, or anywhere in it."""
        rng, choice = self.rng, self.rng.random()
        if choice < 0.1:
            return self.start_s
        if choice < 0.15:
            return self.start_s - rng.uniform(0, 86400.0)
        if choice < 0.25:
            return self.window_end_s
        if choice < 0.35:
            return self.drain_end_s + rng.choice([0.0, rng.uniform(0, 86400.0)])
        if choice < 0.45:
            return PEAK_S + rng.choice([-1.0, 0.0, 1.0, 60.0, 3600.0])
        return self.start_s + rng.random() * (self.drain_end_s - self.start_s)

    def window(self, required: bool) -> dict | None:
        rng = self.rng
        if not required and rng.random() < 0.35:
            return None
        start_s = int(self.moment_s())
        if rng.random() < 0.3:
            every_s = rng.choice([60.0, 3600.0, 86400.0, round(rng.uniform(1, 100_000), 3)])
            window = {"start": format_utc(start_s), "every_s": every_s,
                      "duration_s": min(every_s, rng.choice([every_s, 0.001, round(rng.uniform(0.001, every_s), 3)]))}
            if rng.random() < 0.4:
                window["end"] = format_utc(start_s + rng.choice([1, 3600, 86400, int(rng.uniform(1, 5 * 86400))]))
            return window
        length_s = rng.choice([1, 60, 3600, 86400, 3 * 86400, 10 * 86400, int(rng.uniform(1, 8 * 86400))])
        return {"start": format_utc(start_s), "end": format_utc(start_s + length_s)}

    def fault(self, kind: str) -> dict:
        rng, fault = self.rng, {"kind": kind}
        window = self.window(required=kind in WINDOW_REQUIRED)
        if kind == "latency":
            fault |= {"distribution": "lognormal", "latency_ms_p50": 200.0,
                      "latency_ms_p95": rng.choice([200.0, 2000.0, 60_000.0])}
        elif kind == "degradation":
            fault["latency_ms_max"] = round(rng.uniform(0.001, 600_000), 3)
        elif kind == "server_error":
            fault |= {"probability": self.probability(), "status": rng.choice([500, 502, 503, 504])}
        elif kind == "throttle":
            fault |= {"probability": self.probability(), "retry_after_s": rng.choice([0.001, 5.0, 3600.0])}
        elif kind in ("connect_timeout", "reply_lost"):
            fault |= {"probability": self.probability(), "timeout_s": rng.choice([0.001, 30.0, 3600.0])}
        elif kind == "concurrency_cap":
            fault["limit"] = rng.choice([1, 2, 5, 50])
        elif kind == "engine_crash":
            fault["at"] = [format_utc(int(self.moment_s())) for _ in range(rng.choice([1, 2, 3, 5]))]
            fault["restart_after_s"] = rng.choice([0.001, 60.0, 3600.0, 86400.0, 5 * 86400.0])
        elif kind == "missing_subsidiary":
            fault["entity"] = rng.choice(["US01", "EU01"])
        elif kind == "payment_unknown_outcome":
            fault |= {"probability": self.probability(), "applied_probability": self.probability(),
                      "lookup_after_s": rng.choice([0.001, 3600.0, 5 * 86400.0])}
        elif kind == "ach_failure":
            fault |= {"probability": self.probability(), "return_after_days": rng.choice([0.0001, 3.0, 60.0])}
        elif kind == "webhook_duplicate":
            fault |= {"probability": self.probability(), "delay_s_max": rng.choice([0.0, 60.0, 3 * 86400.0])}
        elif kind == "webhook_delay":
            fault |= {"probability": self.probability(), "delay_s_min": 0.0,
                      "delay_s_max": rng.choice([0.001, 3600.0, 4 * 86400.0])}
        elif kind in ("lock_conflict", "tax_address", "webhook_drop"):
            fault["probability"] = self.probability()
        if window is not None:
            fault["window"] = window
        return fault

    def overrides_for_small_peak(self) -> list[str]:
        rng = self.rng
        pattern = rng.choice(["orchestrated", "p2p", "batch", "event"])
        self.set("engine.pattern", pattern)
        self.set("traffic.subscriptions", rng.randint(20, 200))
        traffic_days, drain_days = round(rng.uniform(0.25, 3), 3), round(rng.uniform(1, 7), 3)
        self.set("run.traffic_days", traffic_days)
        self.set("run.drain_limit_days", drain_days)
        self.start_s = parse_utc("2026-01-31T23:00:00Z")  # small-peak's
        self.window_end_s = self.start_s + traffic_days * 86400.0
        self.drain_end_s = self.window_end_s + drain_days * 86400.0
        for switch in ("dedupe", "dependency_hold", "idempotent_posting", "lookup_before_retry", "period_routing",
                       "respect_retry_after", "durable_store", "tax_check", "dead_letter_queue", "gap_fill",
                       "post_reversals", "circuit_breaker"):
            self.set(f"engine.{switch}", rng.random() < 0.5, chance=0.3)
        self.set("engine.store", "sqlite", chance=0.2)
        self.set("engine.retry_attempts_max", rng.choice([1, 2, 12]), chance=0.2)
        self.set("engine.gap_fill_interval_s", rng.choice([1.0, 3600.0, 3 * 86400.0]), chance=0.2)
        self.set(f"engine.{pattern}.period_routing", rng.random() < 0.5, chance=0.3 if pattern != "orchestrated" else 0)
        self.set("engine.p2p.backlog_max", rng.choice([0, 1, 100]), chance=0.4 if pattern == "p2p" else 0)
        self.set("engine.batch.interval_s", rng.choice([60.0, 3600.0, 86400.0]),
                 chance=0.4 if pattern == "batch" else 0)
        self.set("engine.event.retries_max", rng.choice([0, 1, 10]), chance=0.4 if pattern == "event" else 0)
        self.set("engine.event.blocking_retries", rng.random() < 0.5, chance=0.3 if pattern == "event" else 0)
        self.set("operator.enabled", rng.random() < 0.6, chance=0.3)
        self.set("operator.resolve_after_s", rng.choice([0.001, 3600.0, 5 * 86400.0]), chance=0.3)
        self.set("operator.replays_max", rng.choice([0, 1, 2, 10]), chance=0.3)
        self.set("erp.concurrency_limit", rng.randint(1, 20), chance=0.5)
        closes = [{"period": rng.choice(["2025-12", "2026-01", "2026-02", "2026-03"]),
                   "at": format_utc(int(self.moment_s())), "entity": rng.choice(["*", "US01", "EU01"])}
                  for _ in range(rng.randint(1, 4))]
        self.set("erp.period_closes", closes, chance=0.4)
        self.set("payments.ach_share", self.probability(), chance=0.3)
        self.set("traffic.upgrade_probability", self.probability(), chance=0.4)
        self.set("traffic.cancel_probability", self.probability(), chance=0.4)
        self.set("traffic.annual_share", self.probability(), chance=0.3)
        self.set("traffic.new_deals_per_day", rng.choice([0.0, 10.0, 200.0]), chance=0.3)
        faults = []
        for _ in range(rng.choice([0, 1, 2, 3, 5])):
            kind = rng.choice(FAULT_KINDS)
            faults.append(self.fault(kind))
            if rng.random() < 0.15:  # the same kind again, maybe overlapping
                faults.append(self.fault(kind))
        self.set("faults", faults)
        # Drawn last, so the draws above stay those that found the first crashes.
        for switch in ("recheck_bank_debits", "recover_writeoffs"):
            self.set(f"engine.{switch}", rng.random() < 0.5, chance=0.3)
        self.set("billing.recovery_share", self.probability(), chance=0.4)
        self.set("billing.recovery_after_days", rng.choice([0.0001, 1.0, 5.0, 60.0]), chance=0.4)
        self.set("billing.dunning_retry_days", rng.choice([[], [0.01], [0.5, 1.0], [1, 2, 3]]), chance=0.3)
        self.set("payments.success_probability", self.probability(), chance=0.3)
        return self.overrides


@pytest.mark.parametrize("index", range(DRAWS))
def test_a_random_scenario_runs_to_its_end(index):
    overrides = Draw(index).overrides_for_small_peak()
    try:
        scenario, _ = load("small-peak", overrides)
    except ScenarioError:
        return  # refused with a reason: what the loader is for
    result = runner.run(scenario, index)
    reconciliation = result.metrics["reconciliation"]
    assert reconciliation["invoices"]["expected"] >= reconciliation["invoices"]["matched"] >= 0
    assert result.trace.filter(kind="run.end").height == 1
