"""Sweep benchmark: runs per minute in this process (serial) vs a local process pool, and on a Dask
LocalCluster, with the same runs on each; and how long the LocalCluster takes to start.

Each executor runs the same list of runs (`rehearse.sim.plan.plan_runs`: one scenario, K seeds) the
way `rehearse sweep` does (metrics plus a run summary per run, shipped back from the worker); the
JSON and HTML files are not written. The line says whether every executor returned identical
metrics (wall-clock figures aside).

Prints one JSON line: runs, serial_wall_s, serial_runs_per_minute, serial_run_wall_s_mean (one
run's own wall time, on average), pool_workers, pool_wall_s, pool_runs_per_minute, pool_speedup
(serial wall / pool wall), pool_run_wall_s_mean (when it is about the serial one times the workers,
the machine did not give the pool its cores), and with ``--dask``
dask_cluster_start_s, dask_wall_s, dask_runs_per_minute; identical.

    uv run python bench/sweep.py --scenario small-peak --seeds 8 [--workers 2] [--dask]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from rehearse.sim.fanout import default_workers, fan_out, open_executor
from rehearse.sim.plan import arms_from, plan_runs
from rehearse.sim.scenario import ScenarioError


def _timed(specs, workers: int, cluster: str | None = None) -> tuple[float, list[dict]]:
    started = time.perf_counter()
    with open_executor(workers, cluster) as (executor, _):
        results = fan_out(specs, executor)
    return time.perf_counter() - started, results


def _comparable(results: list[dict]) -> list:
    return [(r["arm"], r["seed"], r["error"], {k: v for k, v in (r["metrics"] or {}).items() if k != "wall"},
             r["summary"]) for r in results]


def _run_wall_mean_s(results: list[dict]) -> float:
    walls = [r["metrics"]["wall"]["total_s"] for r in results if r["metrics"]]
    return round(sum(walls) / len(walls), 2) if walls else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="small-peak")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--dask", action="store_true", help="Also run on a distributed.LocalCluster.")
    args = parser.parse_args(argv)
    try:
        plan = plan_runs(args.scenario, arms=arms_from([], []), seed_count=args.seeds, overrides=args.overrides)
    except ScenarioError as error:
        print("\n".join(error.messages), file=sys.stderr)
        return 2
    runs = len(plan.specs)
    serial_s, serial = _timed(plan.specs, 1)
    pool_s, pooled = _timed(plan.specs, args.workers)
    line = {
        "scenario": args.scenario, "runs": runs,
        "serial_wall_s": round(serial_s, 2), "serial_runs_per_minute": round(runs * 60 / serial_s, 2),
        "serial_run_wall_s_mean": _run_wall_mean_s(serial),
        "pool_workers": args.workers, "pool_wall_s": round(pool_s, 2),
        "pool_runs_per_minute": round(runs * 60 / pool_s, 2), "pool_speedup": round(serial_s / pool_s, 2),
        "pool_run_wall_s_mean": _run_wall_mean_s(pooled),
    }
    identical = _comparable(serial) == _comparable(pooled)
    if args.dask:
        from distributed import LocalCluster

        started = time.perf_counter()
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            line["dask_cluster_start_s"] = round(time.perf_counter() - started, 2)
            dask_s, clustered = _timed(plan.specs, 1, cluster.scheduler_address)
        line |= {"dask_wall_s": round(dask_s, 2), "dask_runs_per_minute": round(runs * 60 / dask_s, 2)}
        identical = identical and _comparable(serial) == _comparable(clustered)
    line["identical"] = identical
    print(json.dumps(line))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
