"""The live mode: the same world as a simulated run (``rehearse.sim.world``: fakes, traffic, faults,
operator, oracle), on an asyncio clock that runs `speedup` times faster than the wall, with the
engine talking to the fakes over real HTTP on loopback: its ERP and billing clients are the aiohttp
ones (``rehearse.sim.http_clients``), the fakes are served on uvicorn behind the call-fault gate,
and billing and payments deliver signed webhooks over HTTP to the engine's endpoint
(``rehearse.sim.webhook_receiver``). The trace is recorded as in simulation, so a live run produces
the same metrics and report.

Not deterministic (real sockets, real scheduling); the engine's Store is SQLite in the run's temporary
folder, or PostgreSQL when a URL is given: then in a schema of its own (``rehearse_live_<random>``)
that the run drops at its end, as the temporary folder goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, Protocol, cast

from rehearse.sim.asyncio_runtime import AsyncioRuntime
from rehearse.sim.group_commit import CHANGES_MAX, GroupCommit
from rehearse.sim.http_clients import HttpBillingClient, HttpErpClient, new_erp_client, new_session
from rehearse.sim.http_webhooks import WebhookEndpoint
from rehearse.sim.runner import DRAIN_CHECK_S, Progress, resolved_parameters
from rehearse.sim.scenario import Scenario
from rehearse.sim.served import webhook_sender, world_apps
from rehearse.sim.serving import LOOPBACK, serving
from rehearse.sim.webhook_receiver import WEBHOOK_PATH, Receiver, create_receiver_app
from rehearse.sim.world import World
from rehearse.sync.ports import BillingClient, ErpClient
from rehearse.sync.postgres_store import PostgresStore
from rehearse.sync.sql_store import SqlStore

PROGRESS_WALL_S = 0.5  # how often the window loop reports progress, in wall seconds


class RuntimeClock:
    """The clock the served fakes and the fault gate read: the runtime's scenario time."""

    def __init__(self, runtime: AsyncioRuntime) -> None:
        self.runtime = runtime

    def now(self) -> float:
        """Scenario Unix seconds."""
        return self.runtime.now()

    def wall_s(self, scenario_s: float) -> float:
        """Wall seconds that `scenario_s` scenario seconds last."""
        return scenario_s / self.runtime.speedup


class _ClientPorts(Protocol):
    """The ports of a built-in engine that a live run swaps for HTTP clients."""

    erp: ErpClient
    billing: BillingClient | None


class LiveResult(NamedTuple):
    """What a live run leaves besides its trace."""

    cutoff_s: float
    drained: bool
    urls: dict[str, str]
    webhooks_refused: dict[str, int]
    http_requests: int


class _CountingGate:
    """Counts the requests that reach the fakes (the raw request rate of the benchmark)."""

    def __init__(self, app) -> None:
        self.app = app
        self.requests = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.requests += 1
        return await self.app(scope, receive, send)


async def run_live(scenario: Scenario, seed: int, trace, *, speedup: float, work_dir: Path,
                   progress: Progress | None = None, host: str = LOOPBACK, store_url: str | None = None) -> LiveResult:
    """Run `scenario` live; the caller owns `trace` (a `TraceRecorder`) and `work_dir` (the SQLite
    Store). With `store_url` the Store is PostgreSQL instead (`PostgresStore.open` raises
    `StoreUnavailable` before anything runs when the server cannot be reached)."""
    store = None
    if store_url is not None:
        # Commit every change, no wait for the server's flush: as the simulation's SQLite store.
        store = PostgresStore.open(store_url, synchronous="OFF", schema=f"rehearse_live_{secrets.token_hex(6)}")
    runtime = AsyncioRuntime(scenario.run.start_s, speedup)
    start_s = scenario.run.start_s
    trace.emit(start_s, "run.start", code=scenario.name, value=float(seed),
               detail=json.dumps({**resolved_parameters(scenario, seed), "live": {"speedup": speedup}},
                                 sort_keys=True))
    world = World(scenario, seed, runtime, trace, work_dir, store=store)
    clock = RuntimeClock(runtime)
    apps, _ = world_apps(world, seed, clock=clock, trace=trace)
    counted = {system: _CountingGate(apps[system]) for system in ("erp", "billing", "payments")}
    secret = secrets.token_hex(32)  # this run's signing secret: never traced, never printed
    committer = None
    engine_store = getattr(world.engine, "store", None)
    sql_store = engine_store if isinstance(engine_store, SqlStore) else None
    if sql_store is not None:  # group commit: acknowledged once committed
        sql_store.commit_every = CHANGES_MAX
        committer = GroupCommit(world.engine)
    receiver = Receiver(secret=secret, receive=world.engine.receive,
                        flushed=committer.flushed if committer else None)
    try:
        async with contextlib.AsyncExitStack() as stack:
            urls = {system: await stack.enter_async_context(serving(app, host=host))
                    for system, app in counted.items()}
            urls["webhooks"] = await stack.enter_async_context(
                serving(create_receiver_app(receiver), host=host)) + WEBHOOK_PATH
            session = new_session()
            stack.push_async_callback(session.close)
            erp_client = new_erp_client()
            stack.push_async_callback(erp_client.close)
            if committer is not None:
                committing = asyncio.ensure_future(committer.run())
                stack.push_async_callback(_cancelled, committing)
            sender = webhook_sender(world, seed, endpoints=[WebhookEndpoint(urls["webhooks"], secret)],
                                    clock=clock, trace=trace)
            stack.push_async_callback(sender.aclose)
            clients = cast(_ClientPorts, world.engine)  # a built-in pattern: a live run takes no --engine
            clients.erp = HttpErpClient(urls["erp"], runtime=runtime, client=erp_client, trace=trace,
                                        speedup=speedup)
            clients.billing = HttpBillingClient(billing_url=urls["billing"], payments_url=urls["payments"],
                                                runtime=runtime, session=session, trace=trace)
            world.load_book()
            if sql_store is not None:  # (the engine has not started: its Store is still this one)
                sql_store.commit()  # the book is the engine's starting point, not a pending change
            runtime.reset_clock()  # loading the book took wall time that is not scenario time
            world.start()
            await _until(runtime, world.window_end_s, lambda: False, progress, "traffic")
            trace.emit(runtime.now(), "run.healed")
            drain_end_s = world.window_end_s + scenario.run.drain_limit_days * 86400.0
            await _until(runtime, drain_end_s, world.quiet, progress, "drain", DRAIN_CHECK_S / speedup)
            cutoff_s = runtime.now()
            drained = world.quiet()
            if runtime.failures:
                raise runtime.failures[0]
            world.record_cutoff(cutoff_s, drained)
            public_urls = {name: url for name, url in urls.items()}
    finally:
        await runtime.shutdown()
        final_store = getattr(world.engine, "store", None)  # a crash and restart replaces the object
        if isinstance(final_store, PostgresStore):
            final_store.drop()  # the run's own schema, as the SQLite file goes with the temporary folder
        else:
            world.close()
    return LiveResult(cutoff_s, drained, public_urls, dict(receiver.refused),
                      sum(gate.requests for gate in counted.values()))


async def _until(runtime: AsyncioRuntime, end_s: float, done: Callable[[], bool], progress: Progress | None,
                 phase: str, poll_wall_s: float = PROGRESS_WALL_S) -> None:
    """Wait until scenario time `end_s` or `done()`, reporting progress."""
    poll_wall_s = min(poll_wall_s, PROGRESS_WALL_S)
    while runtime.now() < end_s and not done():
        await asyncio.sleep(min(poll_wall_s, (end_s - runtime.now()) / runtime.speedup))
        if progress:
            progress(runtime.now(), end_s, phase)


async def _cancelled(task: asyncio.Future) -> None:
    """Cancel a background task and wait until it has finished."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def run_loop(coroutine):
    """Run a coroutine to completion on uvloop when it is installed (about a third faster for this
    much HTTP), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; this keeps the fallback honest
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def live_world_parameters(result: LiveResult) -> dict[str, Any]:
    """What a live run adds to its metrics (`metrics["live"]`): no secret, loopback URLs only."""
    return {"urls": result.urls, "webhooks_refused": result.webhooks_refused,
            "http_requests_to_fakes": result.http_requests}


def run(scenario: Scenario, seed: int, *, speedup: float, out_dir: Path | None = None,
        progress: Progress | None = None, host: str = LOOPBACK, store_url: str | None = None):
    """A live run end to end: the same metrics, report and trace files as `rehearse.sim.runner.run`,
    plus ``metrics["live"]``; wall-clock figures under ``metrics["wall"]``. Refuses an `out_dir`
    as `rehearse.sim.runner.run` does, before anything runs."""
    import tempfile
    import time

    from rehearse.reports import compute_metrics
    from rehearse.sim.outputs import refuse_unreplaceable
    from rehearse.sim.recorder import RecordedTrace, TraceRecorder
    from rehearse.sim.runner import RunResult, peak_rss_mib, write_outputs

    if out_dir is not None:
        refuse_unreplaceable(out_dir)
    wall_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rehearse-live-") as work:
        trace = TraceRecorder(Path(work))
        result = run_loop(run_live(scenario, seed, trace, speedup=speedup, work_dir=Path(work),
                                   progress=progress, host=host, store_url=store_url))
        frame = trace.frame()
    run_s = time.perf_counter() - wall_start
    metrics = compute_metrics(frame, scenario=scenario.name, seed=seed, pattern=scenario.engine.pattern,
                              gates=scenario.gates)
    metrics["drained"] = result.drained
    metrics["live"] = {**live_world_parameters(result), "speedup": speedup}
    metrics["wall"] = {"simulate_s": round(run_s, 3), "trace_rows": frame.height}
    recorded = RecordedTrace.of_frame(frame)
    if out_dir is not None:
        write_outputs(out_dir, recorded, metrics)
    metrics["wall"]["total_s"] = round(time.perf_counter() - wall_start, 3)
    metrics["wall"]["peak_rss_mib"] = peak_rss_mib()
    if out_dir is not None:
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return RunResult(metrics, recorded, out_dir)
