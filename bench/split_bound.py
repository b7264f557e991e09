"""What splitting the simulation over two processes could gain, measured instead of estimated.

The split considered (`NOTES.md`, "Scale"): a source process (traffic, billing, tax, payments, the
webhook sender) and a sink (the engine, its store, the ERP client and the ERP, the safety
monitor), the webhook deliveries streaming from one to the other. Such a split can be no faster
than its slower side, so this runs `bench/peak.py`'s month-end peak three ways, each in this one
process, with the collector off as in `rehearse.sim.runner.simulate`:

- ``whole``: the world as a run simulates it, keeping every delivery the engine received and when;
- ``source``: the same world with a receiver that acknowledges every delivery at once, and the
  engine's gap-fill off (nothing is posted);
- ``sink``: the recorded deliveries fed in time order into a fresh engine, store and ERP, as the
  source process would hand them over.

Each is run `--repeat` times, interleaved, and the fastest of each counts (this machine is shared:
one run can take half as long again as the next). Each side's time counts from the end of its
book loading (the book loads in both processes at
once in a split). The deliveries must also cross between the processes: pickling them in batches
of `BATCH` and unpickling them is timed here and charged to the source and to the sink.

Prints one JSON line: ``whole_s``, ``source_s``, ``sink_s`` (the peak and its drain, after the
book; the fastest run of each, every run in ``*_all``), ``pickle_s`` and ``unpickle_s`` (every
delivery, batched), ``deliveries``,
``erp_documents`` and ``sink_erp_documents`` (the ERP's invoices and payments at the end of the
whole run and of the sink's: the same, or the sink did other work than the whole run), and
``bound`` = whole_s / max(source_s + pickle_s, sink_s + unpickle_s), the most a split could speed
the simulation up before anything else it costs (merging two traces, synchronising clocks).
Progress goes to stderr, a line per run.

    uv run python bench/split_bound.py --subscriptions 100000
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import sys
import tempfile
import time
from pathlib import Path

import simpy

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peak import peak_overrides, say  # noqa: E402 - the benchmark next door defines the peak

from rehearse.sim import wiring  # noqa: E402
from rehearse.sim.engines import build_engine  # noqa: E402
from rehearse.sim.faults import FaultPlan  # noqa: E402
from rehearse.sim.recorder import TraceRecorder  # noqa: E402
from rehearse.sim.runner import DRAIN_CHECK_S  # noqa: E402
from rehearse.sim.safety import SafetyMonitor  # noqa: E402
from rehearse.sim.scenario import Scenario, ScenarioError, load  # noqa: E402
from rehearse.sim.seeds import stream  # noqa: E402
from rehearse.sim.simpy_runtime import SimPyRuntime  # noqa: E402
from rehearse.sim.world import World  # noqa: E402
from rehearse.sync import rules  # noqa: E402
from rehearse.sync.engine import EnginePorts  # noqa: E402
from rehearse.sync.model import Event  # noqa: E402
from rehearse.sync.store import MemoryStore  # noqa: E402

BATCH = 200  # deliveries per pickled message between the processes


def run_world(scenario: Scenario, seed: int, work_dir: Path, *, engine: bool) -> tuple[float, list, list, int]:
    """Simulate the world after its book; returns (seconds, deliveries as (time, event), the
    customers preloaded into the ERP, the ERP's invoices and payments). Without `engine`, every
    delivery is acknowledged at once."""
    work_dir.mkdir()
    env = simpy.Environment(initial_time=scenario.run.start_s)
    world = World(scenario, seed, SimPyRuntime(env), TraceRecorder(work_dir), work_dir)
    world.load_book()
    deliveries: list[tuple[float, Event]] = []
    receive = world.engine.receive if engine else None

    def receiver(event: Event) -> bool:
        deliveries.append((env.now, event))
        return receive(event) if receive is not None else True

    world.webhooks.receiver = receiver
    started = time.perf_counter()
    world.start()
    drain_end_s = world.window_end_s + scenario.run.drain_limit_days * 86400.0
    env.run(until=world.window_end_s)
    while not world.quiet() and env.now < drain_end_s:
        env.run(until=min(env.now + DRAIN_CHECK_S, drain_end_s))
    elapsed_s = time.perf_counter() - started
    new_customers = set(world.traffic.new_customer_ids)
    preloaded = [rules.customer_document(customer) for customer in world.billing.customers.values()
                 if customer.id not in new_customers]
    return elapsed_s, deliveries, preloaded, len(world.erp.invoices) + len(world.erp.payments)


def run_sink(scenario: Scenario, seed: int, work_dir: Path, deliveries: list, preloaded: list) -> tuple[float, int]:
    """Feed the deliveries to a fresh engine and ERP, built as `rehearse.sim.world.World` builds
    them; returns the seconds from the first delivery until the engine is idle, and the ERP's
    invoices and payments."""
    work_dir.mkdir()
    env = simpy.Environment(initial_time=scenario.run.start_s)
    runtime = SimPyRuntime(env)
    trace = TraceRecorder(work_dir)
    faults = FaultPlan(scenario.faults, heal_s=scenario.run.window_end_s)
    erp = wiring.new_erp(scenario, SafetyMonitor(trace), missing=wiring.missing_entities(faults))
    client = wiring.erp_client(scenario, seed, runtime=runtime, erp=erp, trace=trace, faults=faults)
    store = MemoryStore()
    for document in preloaded:
        store.mark_posted_before(document, erp.preload_customer(document))
    engine = build_engine(scenario.engine, EnginePorts(
        runtime=runtime, erp=client, billing=None, store=store, trace=trace, random=stream(seed, "engine"),
        settings=scenario.engine.model_dump(mode="python")))

    def feed():
        for at_s, event in deliveries:
            if at_s > env.now:
                yield env.timeout(at_s - env.now)
            engine.receive(event)

    started = time.perf_counter()
    engine.start()
    feeding = env.process(feed())
    env.run(until=feeding)
    while not engine.idle():
        env.run(until=env.now + DRAIN_CHECK_S)
    return time.perf_counter() - started, len(erp.invoices) + len(erp.payments)


def transfer_s(deliveries: list) -> tuple[float, float]:
    """Seconds to pickle every delivery in batches of `BATCH`, and to unpickle them."""
    batches = [deliveries[index:index + BATCH] for index in range(0, len(deliveries), BATCH)]
    started = time.perf_counter()
    messages = [pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL) for batch in batches]
    pickled_s = time.perf_counter() - started
    started = time.perf_counter()
    for message in messages:
        pickle.loads(message)
    return pickled_s, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side; the fastest of each counts")
    args = parser.parse_args(argv)
    if args.subscriptions < 1:
        parser.error("--subscriptions must be at least 1")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    try:
        scenario, _ = load("month-end", peak_overrides(args.subscriptions))
        source_scenario, _ = load("month-end", [*peak_overrides(args.subscriptions), "engine.gap_fill=false"])
    except ScenarioError as error:
        print("\n".join(error.messages), file=sys.stderr)
        return 2
    gc.disable()
    whole, source, sink = [], [], []
    with tempfile.TemporaryDirectory(prefix="rehearse-split-") as work:
        work_dir = Path(work)
        for repeat in range(args.repeat):  # interleaved, so a busy minute on the machine hits all three
            say(f"run {repeat + 1} of {args.repeat}: whole")
            whole_s, recorded, preloaded, whole_documents = run_world(
                scenario, args.seed, work_dir / f"whole-{repeat}", engine=True)
            whole.append(whole_s)
            if repeat == 0:
                deliveries = recorded
            del recorded
            gc.collect()
            say(f"run {repeat + 1} of {args.repeat}: source")
            source.append(run_world(source_scenario, args.seed, work_dir / f"source-{repeat}", engine=False)[0])
            gc.collect()
            say(f"run {repeat + 1} of {args.repeat}: sink")
            sink_s, sink_documents = run_sink(scenario, args.seed, work_dir / f"sink-{repeat}", deliveries, preloaded)
            sink.append(sink_s)
            gc.collect()
        say("pickling the deliveries")
        pickle_s, unpickle_s = transfer_s(deliveries)
    gc.enable()
    whole_s, source_s, sink_s = min(whole), min(source), min(sink)
    print(json.dumps({
        "subscriptions": args.subscriptions,
        "whole_s": round(whole_s, 3), "source_s": round(source_s, 3), "sink_s": round(sink_s, 3),
        "whole_s_all": [round(value, 3) for value in whole], "source_s_all": [round(value, 3) for value in source],
        "sink_s_all": [round(value, 3) for value in sink],
        "pickle_s": round(pickle_s, 3), "unpickle_s": round(unpickle_s, 3), "deliveries": len(deliveries),
        "erp_documents": whole_documents, "sink_erp_documents": sink_documents,
        "bound": round(whole_s / max(source_s + pickle_s, sink_s + unpickle_s), 2),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
