"""Rehearsals from Python, for tests: run a scenario and read its verdict, or step a world of fakes
through virtual time, inject faults on the way and look inside.

`rehearse(...)` is `rehearse run` as a function: it returns an `Outcome` (metrics, trace, gates).
`SteppedWorld` is the same world `rehearse run` builds (`rehearse.sim.world.World` on a SimPy
clock), driven by the caller: `run_for`, `run_until`, `inject`, `crash_engine`, then `finish`, which
takes the cut-off where it stands and computes the same metrics. Run to the end of the traffic
window and drained (`run_to_end`), a stepped world gives exactly the metrics `rehearse run` gives.
The pytest plugin (`rehearse.contracts.pytest_plugin`) hands these out as fixtures.
"""

from __future__ import annotations

import json
import math
import operator
import tempfile
from collections.abc import Awaitable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl

from rehearse.sim.recorder import RecordedTrace
from rehearse.sim.scenario import Scenario, ScenarioError, load
from rehearse.sync.model import format_utc, parse_utc

# Faults a stepped world can take while it runs: the ones the fakes look up on every call or
# delivery. Engine crashes have their own method; a missing subsidiary is master data set at start.
INJECTABLE_KINDS = (
    "latency", "degradation", "server_error", "throttle", "connect_timeout", "reply_lost", "outage",
    "maintenance", "lock_conflict", "concurrency_cap", "webhook_duplicate", "webhook_delay", "webhook_drop",
    "receiver_down", "schema_drift", "tax_address",
)


class RehearsalError(Exception):
    """A rehearsal asked for something impossible: a bad scenario, override or fault, or a step
    backwards in time. `messages` says what and why, one line each."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


class Outcome(NamedTuple):
    """What a rehearsal leaves behind: `metrics` (as in metrics.json), the trace (`recorded`, read
    lazily; `trace` is it as one polars frame) and the folder the report went to, if one was asked
    for."""

    metrics: dict
    recorded: RecordedTrace
    out_dir: Path | None = None

    def __repr__(self) -> str:
        return (f"Outcome(scenario={self.metrics.get('scenario')!r}, seed={self.metrics.get('seed')}, "
                f"passed={self.passed}, failed_gates={self.failed_gates}, trace_rows={self.recorded.height})")

    @property
    def trace(self) -> pl.DataFrame:
        """The whole trace as one polars frame (loaded on first use)."""
        return self.recorded.frame()

    @property
    def passed(self) -> bool:
        """Every gate of the scenario passed."""
        return bool(self.metrics["passed"])

    def gate(self, name: str) -> dict:
        """One gate's verdict: ``{"name", "value", "limit", "passed"}``."""
        for gate in self.metrics["gates"]:
            if gate["name"] == name:
                return gate
        known = ", ".join(gate["name"] for gate in self.metrics["gates"]) or "none"
        raise KeyError(f"no gate {name!r} in this scenario (its gates: {known})")

    @property
    def failed_gates(self) -> list[str]:
        """Names of the gates that failed."""
        return [gate["name"] for gate in self.metrics["gates"] if not gate["passed"]]

    def metric(self, dotted: str) -> Any:
        """A metric by its dotted path, e.g. ``"reconciliation.invoices.missing"``."""
        node: Any = self.metrics
        for part in dotted.split("."):
            if isinstance(node, list) and part.isdigit():
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                raise KeyError(f"no metric {dotted!r} (stopped at {part!r})")
        return node


def checked_seed(seed: Any) -> int:
    """`seed` if it is a whole number of at least 0 (as ``rehearse run --seed`` takes), else a
    `RehearsalError` saying so."""
    try:
        value = operator.index(seed)  # an int, or an integer type that says it is one (numpy's)
    except TypeError:
        value = -1
    if isinstance(seed, bool) or value < 0:
        raise RehearsalError([f"seed must be a whole number, at least 0, got {seed!r}"])
    return value


def _override_list(overrides: Iterable[str]) -> list[str]:
    """The overrides as a list; one text is one override, not its characters."""
    return [overrides] if isinstance(overrides, str) else list(overrides)


def load_scenario(scenario: str | Path | Scenario, overrides: Iterable[str] = ()) -> Scenario:
    """A scenario from a built-in name, a path or a `Scenario`, with ``dotted.key=value`` overrides
    (one text is taken as one override, not as its characters)."""
    overrides = _override_list(overrides)
    if isinstance(scenario, Scenario):
        if not overrides:
            return scenario
        raise RehearsalError([f"scenario {scenario.name!r}: overrides need a scenario name or path, "
                              "not a loaded Scenario"])
    try:
        loaded, _ = load(str(scenario), overrides)
    except ScenarioError as error:
        raise RehearsalError(error.messages) from None
    return loaded


def _check_memory(scenario: Scenario) -> None:
    """Refuse a world that would not fit in this machine's memory (`rehearse.sim.preflight`)."""
    from rehearse.sim.preflight import memory_problem

    problem = memory_problem(scenario, skip_hint="pass memory_check=False")
    if problem:
        raise RehearsalError([problem])


def rehearse(scenario: str | Path | Scenario = "smoke", *, seed: int | None = None, overrides: Iterable[str] = (),
             engine: str | None = None, out_dir: Path | None = None, memory_check: bool = True) -> Outcome:
    """Run a scenario as `rehearse run` does; `engine` names the sync pattern (``engine.pattern``).
    With `out_dir`, metrics.json, report.html and trace.parquet are written there. A run whose
    estimated peak memory exceeds what the machine has available is refused (`RehearsalError`)
    unless `memory_check` is False."""
    from rehearse.sim import runner

    overrides = _override_list(overrides) + ([f"engine.pattern={json.dumps(engine)}"] if engine else [])
    loaded = load_scenario(scenario, overrides)
    if memory_check:
        _check_memory(loaded)
    result = runner.run(loaded, loaded.run.seed if seed is None else checked_seed(seed), out_dir=out_dir)
    return Outcome(result.metrics, result.recorded, result.out_dir)


class SteppedWorld:
    """A world of in-process fakes and the engine on a SimPy clock, driven by the caller.

    `record_events=True` keeps every webhook delivery that reaches the engine (duplicates and
    retries included) as its wire payload, in the API version it was sent in (`events`). Close it
    (or use it as a context manager) to free its temporary files. A world whose estimated peak
    memory exceeds what the machine has available is refused (`RehearsalError`) unless
    `memory_check` is False.
    """

    def __init__(self, scenario: Scenario, seed: int | None = None, *, record_events: bool = False,
                 memory_check: bool = True) -> None:
        import simpy

        from rehearse.sync.wire import envelope
        from rehearse.sim.recorder import TraceRecorder
        from rehearse.sim.runner import resolved_parameters
        from rehearse.sim.simpy_runtime import SimPyRuntime
        from rehearse.sim.world import World

        self.scenario = scenario
        self.seed = scenario.run.seed if seed is None else checked_seed(seed)
        if memory_check:
            _check_memory(scenario)
        self._work = tempfile.TemporaryDirectory(prefix="rehearse-world-")
        work_dir = Path(self._work.name)
        self.trace = TraceRecorder(work_dir)
        start_s = scenario.run.start_s
        self.env = simpy.Environment(initial_time=start_s)
        # What rehearse.sim.runner._simulate does before the traffic window, in the same order.
        self.trace.emit(start_s, "run.start", code=scenario.name, value=float(self.seed),
                        detail=json.dumps(resolved_parameters(scenario, self.seed), sort_keys=True))
        self.world = World(scenario, self.seed, SimPyRuntime(self.env), self.trace, work_dir)
        self.events: list[dict] = []
        if record_events:  # at the engine's door: each delivery as it travels, in its API version
            receive = self.world.webhooks.receiver

            def record_and_receive(event) -> bool | Awaitable[bool]:
                self.events.append(envelope(event))
                return receive(event)

            self.world.webhooks.receiver = record_and_receive
        self.world.start()
        self._healed = False
        self._finished: Outcome | None = None

    # -- looking inside ---------------------------------------------------------------------------

    @property
    def now_s(self) -> float:
        """Virtual time, Unix seconds."""
        return float(self.env.now)

    @property
    def now(self) -> str:
        """Virtual time as "YYYY-MM-DDTHH:MM:SSZ"."""
        return format_utc(self.env.now)

    @property
    def window_end_s(self) -> float:
        """End of the traffic window: faults heal then."""
        return self.world.window_end_s

    @property
    def erp(self):
        """The ERP fake (`rehearse.fakes.erp.Erp`): its records, periods and entities."""
        return self.world.erp

    @property
    def billing(self):
        """The billing fake: customers, subscriptions, invoices."""
        return self.world.billing

    @property
    def payments(self):
        """The payments fake: charges."""
        return self.world.payments

    @property
    def engine(self):
        """The sync engine under test; `engine.store` holds its outbox, exceptions, dead letters."""
        return self.world.engine

    def trace_frame(self) -> pl.DataFrame:
        """Everything traced so far."""
        return self.trace.frame()

    # -- driving ----------------------------------------------------------------------------------

    def run_for(self, seconds: float = 0.0, *, minutes: float = 0.0, hours: float = 0.0,
                days: float = 0.0) -> SteppedWorld:
        """Advance virtual time by the sum of the arguments."""
        total_s = seconds + minutes * 60.0 + hours * 3600.0 + days * 86400.0
        if not math.isfinite(total_s):
            raise RehearsalError([f"run_for: {total_s} s is not a finite time (the world's timers never run out)"])
        if total_s < 0:
            raise RehearsalError([f"run_for: {total_s} s is negative; virtual time only goes forward"])
        return self.run_until(self.now_s + total_s)

    def run_until(self, at: str | float) -> SteppedWorld:
        """Advance virtual time to `at` (Unix seconds or "YYYY-MM-DDTHH:MM:SSZ")."""
        self._check_open()
        try:
            at_s = parse_utc(at) if isinstance(at, str) else float(at)
        except (ValueError, IndexError) as error:
            raise RehearsalError([f"run_until: {at!r} is not a UTC time like 2026-02-01T02:00:00Z ({error})"]) from None
        if not math.isfinite(at_s):
            raise RehearsalError([f"run_until: {at_s} is not a finite time (the world's timers never run out)"])
        if at_s < self.now_s:
            raise RehearsalError([f"run_until: {format_utc(at_s)} is before now ({self.now})"])
        window_end_s = self.window_end_s
        if self.now_s < window_end_s <= at_s:
            self.env.run(until=window_end_s)
            self._heal()
        if at_s > self.now_s:
            self.env.run(until=at_s)
        if at_s >= window_end_s:
            self._heal()
        return self

    def _heal(self) -> None:
        if not self._healed:
            self.trace.emit(self.now_s, "run.healed")
            self._healed = True

    def run_to_end(self) -> Outcome:
        """Run the rest of the traffic window and the drain, then `finish`: what `rehearse run` does."""
        from rehearse.sim.runner import DRAIN_CHECK_S

        self.run_until(max(self.now_s, self.window_end_s))
        drain_end_s = self.window_end_s + self.scenario.run.drain_limit_days * 86400.0
        while not self.world.quiet() and self.now_s < drain_end_s:
            self.env.run(until=min(self.now_s + DRAIN_CHECK_S, drain_end_s))
        return self.finish()

    def inject(self, fault: Mapping[str, Any], *, for_s: float | None = None):
        """Add a fault from now on, given as a scenario's ``[[faults]]`` entry (a dict); with
        `for_s` and no ``window`` it acts from now for that many seconds. Returns the fault, which
        `remove` takes back out."""
        from pydantic import TypeAdapter, ValidationError

        from rehearse.sim.faults import Fault

        self._check_open()
        entry = dict(fault)
        kind = entry.get("kind")
        if kind not in INJECTABLE_KINDS:
            raise RehearsalError([f"inject: kind {kind!r} cannot be injected into a running world (injectable: "
                                  f"{', '.join(INJECTABLE_KINDS)}; use crash_engine() for an engine crash)"])
        if self._healed:
            raise RehearsalError([f"inject: faults healed at the end of the traffic window "
                                  f"({format_utc(self.window_end_s)}); it is {self.now}"])
        if for_s is not None:
            if "window" in entry:
                raise RehearsalError(["inject: give either for_s or a window, not both"])
            if not (math.isfinite(for_s) and for_s > 0):
                raise RehearsalError([f"inject: for_s must be a positive, finite number of seconds, got {for_s}"])
            entry["window"] = {"start": format_utc(self.now_s), "end": format_utc(self.now_s + for_s)}
        try:
            value = TypeAdapter(Fault).validate_python(entry)
        except ValidationError as error:
            raise RehearsalError([
                f"inject: fault.{'.'.join(str(part) for part in item['loc'][1:]) or 'kind'}: {item['msg']}"
                for item in error.errors()]) from None
        self.world.faults.add(value)
        if value.window is not None:
            for start_s, end_s in value.window.occurrences(self.window_end_s):
                self.trace.emit(start_s, "fault.window", code=value.kind, detail=value.name,
                                value=min(end_s, self.window_end_s))
        return value

    def remove(self, fault) -> None:
        """Stop a fault that `inject` added (or one of the scenario's)."""
        self.world.faults.remove(fault)

    def crash_engine(self, *, restart_after_s: float = 60.0) -> None:
        """Kill the engine's process now; it restarts from its Store `restart_after_s` later."""
        self._check_open()
        if not (math.isfinite(restart_after_s) and restart_after_s >= 0):
            raise RehearsalError([f"crash_engine: restart_after_s must be a finite number of seconds, at least 0, "
                                  f"got {restart_after_s}"])
        if not self.world.engine.up:
            raise RehearsalError([f"crash_engine: the engine is already down at {self.now}"])
        self.trace.emit(self.now_s, "fault.injected", object_id="engine", code="engine_crash", detail="")
        self.world.engine.crash()
        self.world.runtime.call_later(restart_after_s, self.world.engine.restart)

    def finish(self) -> Outcome:
        """Take the cut-off now: write down what the ERP should hold, close the world and compute
        the metrics. Calling it again returns the same outcome."""
        if self._finished is not None:
            return self._finished
        from rehearse.reports import compute_metrics

        # What rehearse.sim.runner._simulate does at the cut-off, in the same order.
        world, trace, cutoff_s = self.world, self.trace, self.now_s
        drained = world.quiet()
        world.record_cutoff(cutoff_s, drained)
        world.close()  # the engine's Store (the world's own for an engine that keeps none)
        frame = trace.frame()
        metrics = compute_metrics(frame, scenario=self.scenario.name, seed=self.seed,
                                  pattern=self.scenario.engine.pattern, gates=self.scenario.gates)
        metrics["drained"] = drained
        self._finished = Outcome(metrics, RecordedTrace.of_frame(frame))
        self.close()
        return self._finished

    def _check_open(self) -> None:
        if self._finished is not None:
            raise RehearsalError(["this world is finished: its cut-off was taken; start a new one"])

    def close(self) -> None:
        """Free the world's temporary files (the trace stays readable through `finish`'s outcome)."""
        if self._finished is None:
            self.world.close()
        self._work.cleanup()

    def __enter__(self) -> SteppedWorld:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
