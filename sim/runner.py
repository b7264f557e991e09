"""One rehearsal run: build the world on a SimPy clock, run the traffic window, let the engine
drain, write down what the ERP should hold, and turn the trace into metrics and a report.

Phases: traffic (``run.traffic_days``), then drain (until no webhook is in transit and the engine
has nothing it can progress, checked every `DRAIN_CHECK_S`, at most ``run.drain_limit_days``).
The cut-off is the end of the drain.
"""

from __future__ import annotations

import gc
import json
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import polars as pl
import simpy

from rehearse.reports import compute_metrics, write_report
from rehearse.sim.outputs import refuse_unreplaceable, write_folder
from rehearse.sim.recorder import RecordedTrace, TraceRecorder
from rehearse.sim.scenario import Scenario
from rehearse.sim.simpy_runtime import SimPyRuntime
from rehearse.sim.plugins import EngineFailure
from rehearse.sim.watchdog import SimulationStalled, Watchdog
from rehearse.sim.world import World
from rehearse.sync.model import format_utc

PROGRESS_STEP_S = 3600.0  # virtual time between progress updates
DRAIN_CHECK_S = 60.0
# Wall seconds virtual time may stand still before the run is stopped as hung. Generous: the
# busiest instant of a million-subscription peak takes a few seconds.
STALL_LIMIT_S = 60.0

# (virtual now, virtual end estimate, phase): "loading the book", "traffic", "drain", then, in
# `run`, "reconciling" and "writing the report".
Progress = Callable[[float, float, str], None]


class Simulation(NamedTuple):
    """What a simulated run leaves behind: the trace (`recorded`, read lazily; `trace` loads it
    whole), the cut-off and whether the engine drained."""

    recorded: RecordedTrace
    cutoff_s: float
    drained: bool

    @property
    def trace(self) -> pl.DataFrame:
        """The whole trace as one frame (loaded on first use)."""
        return self.recorded.frame()


def resolved_parameters(scenario: Scenario, seed: int) -> dict:
    """Every parameter of the run, defaults included: printed first so a run can be replayed. The
    tables of patterns that do not run, an unset factory and empty options are left out."""
    data = scenario.model_dump(mode="json")
    engine = data["engine"]
    for pattern in ("p2p", "batch", "event"):
        if engine["pattern"] != pattern or engine["factory"]:
            del engine[pattern]
    if engine["factory"] is None:
        del engine["factory"]
    if not engine["options"]:
        del engine["options"]
    return {"seed": seed, **data}


def simulate(scenario: Scenario, seed: int, progress: Progress | None = None,
             stall_limit_s: float = STALL_LIMIT_S, contracts=None) -> Simulation:
    """Run the scenario in virtual time and return its trace (oracle and in-flight set included).

    Raises `EngineFailure` (naming the engine) when the engine fails: its factory or a method
    raised, it answered with the wrong type, or virtual time stood still for `stall_limit_s` of
    wall time (a workflow that loops without awaiting the runtime).

    With `contracts` (a `rehearse.contracts.consumer.ConsumerContracts`), every request the engine
    sends is checked against its provider's document; the first violation stops the run with a
    `ContractViolation`."""
    # A run holds millions of live objects; the cyclic collector would traverse all of them again
    # and again as they accumulate. The simulation's only cycles run through the world's
    # components, which `World.release` breaks, so it runs with the collector off and collects the
    # few leftovers once at the end.
    collecting = gc.isenabled()
    gc.disable()
    # The spilled chunks are the trace: the directory lives as long as the `RecordedTrace`.
    spill_dir = Path(tempfile.mkdtemp(prefix="rehearse-trace-"))
    try:
        trace = TraceRecorder(spill_dir)
        cutoff_s, drained = _simulate(scenario, seed, trace, progress, spill_dir, stall_limit_s, contracts)
        recorded = trace.recorded(owns_spill_dir=True)
    except BaseException:
        shutil.rmtree(spill_dir, ignore_errors=True)
        raise
    finally:
        # `World.release` let reference counting free the book; the collector frees the few
        # cycles left (SimPy processes, suspended coroutines).
        gc.collect()
        if collecting:
            gc.enable()
    return Simulation(recorded, cutoff_s, drained)


def _simulate(scenario: Scenario, seed: int, trace: TraceRecorder, progress: Progress | None,
              work_dir: Path | None = None, stall_limit_s: float = STALL_LIMIT_S, contracts=None) -> tuple[float, bool]:
    start_s = scenario.run.start_s
    env = simpy.Environment(initial_time=start_s)
    runtime = SimPyRuntime(env)
    trace.emit(start_s, "run.start", code=scenario.name, value=float(seed),
               detail=json.dumps(resolved_parameters(scenario, seed), sort_keys=True))
    world = None
    try:
        world = World(scenario, seed, runtime, trace, work_dir, stall_limit_s=stall_limit_s, contracts=contracts)
        if progress:
            progress(start_s, world.window_end_s, "loading the book")
        world.load_book()  # long at scale, and no engine code runs in it: outside the watchdog
        with Watchdog(lambda: env.now, stall_limit_s):
            return _run_world(scenario, env, world, trace, progress)
    except SimulationStalled:
        raise EngineFailure(scenario.engine.label, f"stopped virtual time at {format_utc(env.now)}: nothing "
                            f"advanced the clock for {stall_limit_s:g} s of wall time (a workflow that loops "
                            f"without awaiting the runtime?)") from None
    finally:
        if world is not None:
            world.close()
            runtime.close_processes()  # while the world is whole: see there
            # The pending records still point at the book's ids: turned into a chunk first, they
            # leave nothing scattered among the freed objects, so the memory goes back to the OS.
            trace.flush()
            world.release()


def _run_world(scenario: Scenario, env: simpy.Environment, world: World, trace: TraceRecorder,
               progress: Progress | None) -> tuple[float, bool]:
    world.start()
    window_end_s = world.window_end_s
    drain_end_s = window_end_s + scenario.run.drain_limit_days * 86400.0
    while env.now < window_end_s:
        env.run(until=min(env.now + PROGRESS_STEP_S, window_end_s))
        if progress:
            progress(env.now, window_end_s, "traffic")
    # Safety phase over: faults heal, traffic stops; the liveness phase measures convergence.
    trace.emit(env.now, "run.healed")
    while not world.quiet() and env.now < drain_end_s:
        env.run(until=min(env.now + DRAIN_CHECK_S, drain_end_s))
        if progress:
            progress(env.now, window_end_s, "drain")
    cutoff_s = env.now
    drained = world.quiet()
    world.record_cutoff(cutoff_s, drained)
    return cutoff_s, drained


def peak_rss_mib() -> float:
    """Peak resident memory of this process in MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


class RunResult(NamedTuple):
    """Metrics (with `wall`), the trace (`recorded`, read lazily; `trace` loads it whole), and
    where the files went."""

    metrics: dict
    recorded: RecordedTrace
    out_dir: Path | None

    @property
    def trace(self) -> pl.DataFrame:
        """The whole trace as one frame (loaded on first use)."""
        return self.recorded.frame()


def run(scenario: Scenario, seed: int, *, out_dir: Path | None = None, progress: Progress | None = None,
        stall_limit_s: float = STALL_LIMIT_S, contracts=None) -> RunResult:
    """Simulate, compute metrics and (with `out_dir`) write metrics.json, report.html, trace.parquet.
    Raises `EngineFailure` before anything is written when the engine fails (see `simulate`), and
    `OutputFolderError` before anything runs when `out_dir` holds anything but an earlier result
    (see `rehearse.sim.outputs.replace_problem`); `contracts`: see `simulate`."""
    if out_dir is not None:
        refuse_unreplaceable(out_dir)
    wall_start = time.perf_counter()
    simulation = simulate(scenario, seed, progress, stall_limit_s, contracts)
    simulate_s = time.perf_counter() - wall_start
    window_end_s = scenario.run.window_end_s
    if progress:
        progress(simulation.cutoff_s, window_end_s, "reconciling")
    metrics = compute_metrics(simulation.recorded.scan(), scenario=scenario.name, seed=seed,
                              pattern=scenario.engine.label, gates=scenario.gates)
    metrics["drained"] = simulation.drained
    metrics["wall"] = {
        "simulate_s": round(simulate_s, 3),
        "metrics_s": round(time.perf_counter() - wall_start - simulate_s, 3),
        "trace_rows": simulation.recorded.height,
    }
    if out_dir is not None:
        if progress:
            progress(simulation.cutoff_s, window_end_s, "writing the report")
        write_outputs(out_dir, simulation.recorded, metrics)
    metrics["wall"]["total_s"] = round(time.perf_counter() - wall_start, 3)
    metrics["wall"]["peak_rss_mib"] = peak_rss_mib()
    if out_dir is not None:
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return RunResult(metrics, simulation.recorded, out_dir)


def write_outputs(out_dir: Path, trace: RecordedTrace, metrics: dict) -> None:
    """Write trace.parquet, metrics.json and report.html into `out_dir`, whole or not at all."""

    def write(staging: Path) -> None:
        trace.write_parquet(staging / "trace.parquet")
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        write_report(staging, trace.scan(), metrics)

    write_folder(out_dir, write)
