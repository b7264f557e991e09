"""Live peak benchmark: the engine against the fakes served over HTTP, and the fakes' raw rate.

1. The live peak: N monthly subscriptions renewing at 00:00 UTC on Feb 1, run with
   `rehearse.sim.live` (fakes on uvicorn on loopback, signed webhooks over HTTP to the engine's
   endpoint, the engine's ERP client on `rehearse.sim.http1`, SQLite Store) on a clock `--speedup`
   times faster than the wall, so the ERP's scenario latency (p50 350 ms) shrinks to nothing and HTTP is what
   is measured. Engine postings per second = ``engine.posted`` records / the wall time from the
   first to the last of them (scenario span / speedup). Every invoice and payment is reconciled.
2. The fakes' raw rate: the ERP app alone on uvicorn, hammered by an aiohttp client at
   `--concurrency` with customer upserts: requests per second.

Both run in this one process on one event loop (server and client share it, as they do in
``rehearse run --live``). With ``--split`` the peak runs as two processes instead, as a team would
deploy it: the fakes (`rehearse.sim.serve`, traffic driver on) in a child process and the engine
service (`rehearse.sim.engine_service`, wall clock) in this one; postings per second are then
counted from the engine's trace, and the child reports what reached its ERP.

Prints one JSON line with ``postings_per_s``, ``raw_requests_per_s`` and their ratio, and the
postings of the busiest wall second (``postings_busiest_second``) and of each wall second
(``postings_by_second``); with ``--split``, the CPU seconds each process spent during the peak
(``engine_cpu_s``, ``fakes_cpu_s``); ``--split --profile FILE`` writes a cProfile of the engine
process, ``--split --profile-fakes FILE`` one of the fakes process.

    uv run python bench/live.py --subscriptions 5000 --speedup 3600 [--split]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp
import polars as pl

from rehearse.fakes.erp import Erp
from rehearse.fakes.erp.app import create_app as erp_app
from rehearse.sim import live
from rehearse.sim.scenario import load
from rehearse.sim.serving import serving


class _NoTrace:
    def emit(self, t_s: float, kind: str, **fields) -> None:
        return None


def peak_overrides(subscriptions: int, concurrency: int) -> list[str]:
    """small-peak narrowed to the burst: everything renews at 00:00 on Feb 1, no other traffic,
    no faults, an ERP cap above the engine's concurrency."""
    return [
        f"traffic.subscriptions={subscriptions}", "traffic.anchor_first_share=1.0", "traffic.annual_share=0.0",
        "traffic.new_deals_per_day=0.0", "traffic.upgrade_probability=0.0", "traffic.downgrade_probability=0.0",
        "traffic.cancel_probability=0.0", "faults=[]", 'run.start="2026-01-31T23:59:00Z"', "run.traffic_days=0.1",
        f"billing.renewals_per_s={max(500, subscriptions)}", f"erp.concurrency_limit={concurrency + 8}",
        f"engine.concurrency={concurrency}", 'engine.store="sqlite"', "gates.invoice_to_erp_p95_s_max=1e9",
    ]


def busiest_second(posted: pl.DataFrame, speedup: float) -> int:
    """Postings in the busiest wall second (scenario time / speedup)."""
    seconds = ((posted["t_s"] - posted["t_s"].min()) / speedup).floor()
    return int(seconds.value_counts()["count"].max())


def postings_by_second(posted: pl.DataFrame, speedup: float) -> list[int]:
    """Postings in each wall second from the first posting to the last (where the span goes)."""
    seconds = ((posted["t_s"] - posted["t_s"].min()) / speedup).floor().cast(pl.Int64)
    counts = dict(seconds.value_counts().iter_rows())
    return [counts.get(second, 0) for second in range(int(seconds.max()) + 1)]


def live_peak(subscriptions: int, speedup: float, concurrency: int) -> dict:
    """Run the live peak; postings per second and its reconciliation."""
    scenario, _ = load("small-peak", peak_overrides(subscriptions, concurrency))
    started = time.perf_counter()
    result = live.run(scenario, 1, speedup=speedup)
    wall_s = time.perf_counter() - started
    posted = result.trace.filter(pl.col("kind") == "engine.posted")
    span_wall_s = (posted["t_s"].max() - posted["t_s"].min()) / speedup
    metrics = result.metrics
    recon = metrics["reconciliation"]
    return {
        "subscriptions": subscriptions, "speedup": speedup, "engine_concurrency": concurrency,
        "postings": posted.height, "postings_wall_s": round(span_wall_s, 3),
        "postings_per_s": round(posted.height / span_wall_s, 1),
        "postings_busiest_second": busiest_second(posted, speedup),
        "postings_by_second": postings_by_second(posted, speedup),
        "http_requests_to_fakes": metrics["live"]["http_requests_to_fakes"],
        "invoices_matched": recon["invoices"]["matched"], "invoices_expected": recon["invoices"]["expected"],
        "payments_matched": recon["payments"]["matched"], "payments_expected": recon["payments"]["expected"],
        "duplicated": recon["invoices"]["duplicated"] + recon["payments"]["duplicated"],
        "run_wall_s": round(wall_s, 2),
    }


async def _raw_rate(requests: int, concurrency: int) -> float:
    erp = Erp(entities={"US01": "USD"}, concurrency_limit=10_000, trace=_NoTrace())
    app = erp_app(erp, clock=time.time)
    body = {"source_id": "", "external_id": "", "entity": "US01", "currency": "USD", "amount_minor": 0,
            "tran_date_s": 1769904000.0, "posting_period": "2026-02"}
    async with serving(app) as url, aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        counter = 0

        async def worker() -> None:
            nonlocal counter
            while counter < requests:
                counter += 1
                key = f"cus_{counter}"
                async with session.post(url + "/record/v1/customer",
                                        json={**body, "source_id": key, "external_id": key}) as response:
                    await response.read()
                    assert response.status == 201, response.status

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return requests / (time.perf_counter() - started)


SECRET = "whsec_bench_only"  # a local benchmark's own secret; nothing else uses it


def _serve_child(subscriptions: int, speedup: float, concurrency: int, engine_url: str, ready, go, done,
                 stop, profile_path: str | None = None) -> None:
    from rehearse.sim.serve import serve, settle_heap

    scenario, _ = load("small-peak", peak_overrides(subscriptions, concurrency))

    async def body() -> None:
        async with serve(scenario, 1, speedup=speedup, webhook_urls=(engine_url,), webhook_secret=SECRET,
                         traffic=False) as served:
            served.world.traffic.populate()  # the book exists before the engine maps it
            settle_heap()  # as `Served.start_traffic` does
            served.traffic_started = True
            served.world.runtime.reset_clock()
            ready.put(served.urls)
            while not go.is_set():
                await asyncio.sleep(0.05)
            served.world.runtime.reset_clock()  # the peak starts when the engine is listening
            cpu_started_s = time.process_time()
            served.world.traffic.start()
            while not stop.is_set():
                await asyncio.sleep(0.2)
            fakes_cpu_s = time.process_time() - cpu_started_s
            world = served.world
            finalized = sum(1 for invoice in world.billing.invoices.values() if invoice.finalized_s)
            succeeded = sum(1 for charge in world.payments.charges.values() if charge.status == "succeeded")
            done.put({"fakes_cpu_s": round(fakes_cpu_s, 2), "invoices_expected": finalized,
                      "invoices_in_erp": len(world.erp.invoices),
                      "payments_expected": succeeded, "payments_in_erp": len(world.erp.payments)})

    if profile_path is None:
        live.run_loop(body())
        return
    import cProfile

    with cProfile.Profile() as profiler:
        live.run_loop(body())
    profiler.dump_stats(profile_path)


def split_peak(subscriptions: int, speedup: float, concurrency: int, tmp_dir: str,
               fakes_profile: str | None = None) -> dict:
    """The live peak as two processes: fakes in a child, the engine service here."""
    import multiprocessing
    import socket
    from pathlib import Path

    from rehearse.sim.engine_config import EngineConfig, Endpoint, StoreSection, WebhookSection
    from rehearse.sim.engine_service import run_engine
    from rehearse.sim.recorder import TraceRecorder
    from rehearse.sim.scenario import EngineSection

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    ready, done, go, stop = context.Queue(), context.Queue(), context.Event(), context.Event()
    child = context.Process(target=_serve_child, args=(subscriptions, speedup, concurrency,
                                                       f"http://127.0.0.1:{port}/webhooks", ready, go, done, stop,
                                                       fakes_profile))
    child.start()
    urls = ready.get(timeout=120)
    config = EngineConfig(erp=Endpoint(url=urls["erp"]), billing=Endpoint(url=urls["billing"]),
                          payments=Endpoint(url=urls["payments"]), webhooks=WebhookSection(port=port),
                          # As in simulation: the Store survives a crash of the process, not of the machine.
                          store=StoreSection(path=str(Path(tmp_dir) / "store.sqlite3"), synchronous="OFF"),
                          engine=EngineSection(concurrency=concurrency, store="sqlite", gap_fill=False))
    trace = TraceRecorder()
    stopping = asyncio.Event

    async def engine_run() -> None:
        stop_engine = stopping()

        async def watch() -> None:  # stop once the trace has been quiet for 5 s after postings began
            last, quiet_s = -1, 0.0
            while quiet_s < 5.0:
                await asyncio.sleep(0.5)
                count = len(trace)
                quiet_s = quiet_s + 0.5 if count == last and posted_any() else 0.0
                last = count
            stop_engine.set()

        posted: list[bool] = [False]

        def posted_any() -> bool:
            posted[0] = posted[0] or trace.has("engine.posted")
            return posted[0]

        def ready(url: str) -> None:
            cpu_started_s.append(time.process_time())
            go.set()

        watcher = asyncio.ensure_future(watch())
        await run_engine(config, SECRET, trace=trace, stop=stop_engine, on_ready=ready)
        watcher.cancel()

    cpu_started_s: list[float] = []
    live.run_loop(engine_run())
    engine_cpu_s = time.process_time() - cpu_started_s[0]
    stop.set()
    counts = done.get(timeout=60)
    child.join(timeout=60)
    frame = trace.frame()
    posted = frame.filter(pl.col("kind") == "engine.posted")
    if posted.height == 0:
        raise SystemExit(f"no posting reached the ERP: {frame.group_by('kind').len().rows()} {counts}")
    span_wall_s = posted["t_s"].max() - posted["t_s"].min()  # the engine runs on the wall clock
    return {"mode": "split", "subscriptions": subscriptions, "speedup": speedup, "engine_concurrency": concurrency,
            "postings": posted.height, "postings_wall_s": round(span_wall_s, 3),
            "postings_per_s": round(posted.height / span_wall_s, 1),
            "postings_busiest_second": busiest_second(posted, 1.0),
            "postings_by_second": postings_by_second(posted, 1.0),
            # CPU seconds each process spent from the start of the peak to the end of the run
            # (the engine's count includes writing its trace's last rows).
            "engine_cpu_s": round(engine_cpu_s, 2), **counts,
            "trace_kinds": dict(sorted(frame.group_by("kind").len().rows())),
            "erp_codes": dict(sorted(frame.filter(pl.col("kind") == "erp.call").group_by("code").len().rows()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=5000)
    parser.add_argument("--speedup", type=float, default=600.0)
    parser.add_argument("--concurrency", type=int, default=32, help="engine workers and raw client connections")
    parser.add_argument("--raw-requests", type=int, default=20000)
    parser.add_argument("--split", action="store_true", help="fakes and engine in two processes")
    parser.add_argument("--profile", metavar="FILE", help="with --split: cProfile the engine process into FILE")
    parser.add_argument("--profile-fakes", metavar="FILE", help="with --split: cProfile the fakes process into FILE")
    args = parser.parse_args()
    if args.split:
        import cProfile
        import contextlib
        import tempfile

        profiler = cProfile.Profile() if args.profile else contextlib.nullcontext()
        with tempfile.TemporaryDirectory() as tmp_dir, profiler:
            result = split_peak(args.subscriptions, args.speedup, args.concurrency, tmp_dir,
                                args.profile_fakes)
        if args.profile:
            profiler.dump_stats(args.profile)
    else:
        result = live_peak(args.subscriptions, args.speedup, args.concurrency)
    raw = live.run_loop(_raw_rate(args.raw_requests, args.concurrency))
    result["raw_requests_per_s"] = round(raw, 1)
    result["postings_over_raw"] = round(result["postings_per_s"] / raw, 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
