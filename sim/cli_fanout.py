"""`rehearse compare` and `rehearse sweep`: many runs fanned out, one report.

Both plan the runs (`rehearse.sim.plan`), fan them out (`rehearse.sim.fanout`: a local process
pool, this process with ``--workers 1``, or a Dask cluster with ``--cluster``), tick a progress bar
per finished run, and write their folder atomically: ``comparison.json`` and ``comparison.html``,
or ``sweep.json`` and ``sweep.html``.

Exit status: compare 0 when every run completed (whatever its gates said: a comparison reports,
it does not gate), 1 when a run raised; sweep 0 when every run passed its gates, 1 when one failed
or raised; both 2 for bad input (scenario, override, pattern, variant, seed count, cluster).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rehearse.reports.fanout import fanout_document
from rehearse.reports.fanout_html import write_comparison_html, write_sweep_html
from rehearse.sim.fanout import ClusterError, RunSpec, default_workers, fan_out, open_executor
from rehearse.sim.outputs import out_dir_problem
from rehearse.sim.plan import Plan, arms_from, plan_runs, write_folder
from rehearse.sim.plugins import EngineLoadError, load_factory
from rehearse.sim.preflight import (
    cluster_memory_problem,
    gap_fill_seconds,
    gap_fill_warning,
    memory_estimate_mib,
    memory_problem,
)
from rehearse.sim.scenario import ScenarioError

EXIT_FAILED = 1
# Upper bounds of the counts: far beyond what one fan-out runs (a run takes seconds to minutes), and
# far below what broke it (10^12 seeds ran out of memory planning the runs; 10^12 workers overflowed
# a C int in the process pool).
SEEDS_MAX = 100_000
WORKERS_MAX = 1_024
SUMMARY_METRICS = (
    "reconciliation.accuracy", "reconciliation.missing", "reconciliation.duplicated",
    "latency_s.invoice_to_erp.p95", "latency_s.payment_to_erp.p95", "resilience.failed_posting_rate",
    "resilience.exceptions_open", "resilience.erp_calls_per_posting", "resilience.erp_concurrency_peak",
    "liveness.time_to_converge_s", "recovery_s_max",
)


def _fail_input(messages: list[str]) -> NoReturn:
    from rehearse.sim.cli import _fail_input as fail  # the command line's one way to refuse input

    fail([escape(message) for message in messages])  # "[swarm]" is text here, not console markup
    raise AssertionError("_fail_input exits")  # pragma: no cover


def _shared_options(function):
    options = [
        click.argument("scenario"),
        click.option("--pattern", "patterns", multiple=True, metavar="P",
                     help="A sync pattern to run (engine.pattern=P); repeatable, one arm each."),
        click.option("--variant", "variants", multiple=True, metavar="NAME:KEY=VALUE",
                     help="An arm with its own override, e.g. no-dedupe:engine.dedupe=false; repeat a NAME "
                          "to give it several."),
        click.option("--first-seed", type=click.IntRange(min=0), default=None,
                     help="The first seed (default: the scenario's run.seed); seeds count up from it."),
        click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Override a scenario value in every arm (repeatable)."),
        click.option("--engine", "engine", default=None, metavar="MODULE:FACTORY",
                     help="An outside engine as one more arm (engine.factory=MODULE:FACTORY or path/file.py:FACTORY)."),
        click.option("--workers", type=click.IntRange(min=1, max=WORKERS_MAX), default=None,
                     help="Local worker processes (default: the CPUs available; 1 runs in this process)."),
        click.option("--cluster", default=None, metavar="ADDRESS",
                     help="Run on an existing Dask cluster (tcp://host:8786) instead of local processes."),
        click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Output folder."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
        click.option("--no-memory-check", "skip_memory_check", is_flag=True,
                     help="Run even when the runs at once would exceed the memory this machine has "
                          "available (or, with --cluster, a worker's memory limit)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _plan(scenario: str, patterns, variants, seeds: int, first_seed, overrides, engine, swarm: bool) -> Plan:
    try:
        plan = plan_runs(scenario, arms=arms_from(patterns, variants), seed_count=seeds, first_seed=first_seed,
                         overrides=list(overrides), engine=engine, swarm=swarm)
        # An outside engine that cannot be loaded is bad input, as for `run`: refused before any
        # run, not reported as every run of its arm failing.
        for factory in sorted({spec.scenario.engine.factory or "" for spec in plan.specs} - {""}):
            load_factory(factory)
        return plan
    except ScenarioError as error:
        _fail_input(error.messages)
    except EngineLoadError as error:
        _fail_input([error.message])


def _biggest(plan: Plan) -> tuple[RunSpec, str]:
    """The fan-out's run with the largest memory estimate, and how to name its arm."""
    biggest = max(plan.specs, key=lambda spec: memory_estimate_mib(spec.scenario))
    return biggest, f" (arm {biggest.arm})" if len(plan.arms) > 1 else ""


def _check_memory(plan: Plan, workers: int | None, cluster: str | None) -> None:
    """Refuse a local fan-out whose runs at once would not fit in this machine's memory (a
    cluster's workers are checked once connected: `_cluster_check`)."""
    if cluster is not None:
        return
    biggest, arm = _biggest(plan)
    processes = min(workers or default_workers(), len(plan.specs))
    problem = memory_problem(biggest.scenario, processes=processes)
    if problem:
        _fail_input([f"{biggest.scenario_arg}{arm}: {problem}"])


def _warn_slow(plan: Plan, console: Console) -> None:
    """Warn about the run whose gap-fill sweeps would take longest, if they make it slow."""
    slowest = max(plan.specs, key=lambda spec: gap_fill_seconds(spec.scenario))
    if (warning := gap_fill_warning(slowest.scenario)) is not None:
        arm = f" (arm {slowest.arm})" if len(plan.arms) > 1 else ""
        console.print(f"[bold yellow]warning:[/] {slowest.scenario_arg}{arm}: {warning}", highlight=False,
                      soft_wrap=True)


def _cluster_check(plan: Plan) -> Callable[[dict[str, tuple[int, float | None]]], None]:
    """Refuse a cluster whose workers' memory limits cannot hold their threads' runs."""

    def check(workers: dict[str, tuple[int, float | None]]) -> None:
        biggest, arm = _biggest(plan)
        problem = cluster_memory_problem(biggest.scenario, workers, runs=len(plan.specs))
        if problem:
            _fail_input([f"{biggest.scenario_arg}{arm}: {problem}"])

    return check


def _fan_out(plan: Plan, workers: int | None, cluster: str | None, quiet: bool,
             skip_memory_check: bool) -> tuple[list[dict], dict]:
    console = Console(stderr=True)
    wall_start = time.perf_counter()
    check_cluster = None if skip_memory_check else _cluster_check(plan)
    try:
        with open_executor(workers or default_workers(), cluster, check_cluster=check_cluster) as (executor,
                                                                                                    described):
            console.print(f"[bold]{len(plan.specs)} runs[/] ({len(plan.arms)} arms x {len(plan.seeds)} seeds) "
                          f"on {described}", highlight=False)
            _warn_slow(plan, console)
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.fields[failed]}"), TimeElapsedColumn(), console=console,
                          transient=True, disable=quiet) as progress:
                task = progress.add_task("runs", total=len(plan.specs), failed="")
                failed = 0

                def tick(result: dict) -> None:
                    nonlocal failed
                    failed += result["error"] is not None or not result["metrics"]["passed"]
                    progress.update(task, advance=1, failed=f"{failed} failed" if failed else "")

                results = fan_out(plan.specs, executor, tick)
    except ClusterError as error:
        _fail_input([str(error)])
    total_s = time.perf_counter() - wall_start
    for spec, result in zip(plan.specs, results, strict=True):
        result["replay"] = spec.replay_command()
        result["swarm_faults"] = plan.swarm_faults.get((spec.arm, spec.seed))
    wall = {"executor": described, "total_s": round(total_s, 3),
            "runs_per_minute": round(len(results) * 60.0 / total_s, 2) if total_s > 0 else None,
            "run_wall_s_sum": round(sum((r["metrics"] or {}).get("wall", {}).get("total_s", 0.0) for r in results), 3)}
    return results, wall


def _document(plan: Plan, results: list[dict], wall: dict, swarm: bool) -> dict:
    document = fanout_document(scenario=plan.scenario.name, seeds=plan.seeds, overrides=plan.shared_overrides,
                               arms=[(arm.name, arm.overrides) for arm in plan.arms], records=results, swarm=swarm)
    document["wall"] = wall
    return document


def _summaries(plan: Plan, results: Sequence[dict]) -> dict[str, list[dict]]:
    by_arm: dict[str, list[dict]] = {arm.name: [] for arm in plan.arms}
    for result in results:
        if result["summary"] is not None:
            by_arm[result["arm"]].append(result["summary"])
    return by_arm


def _errors(results: Sequence[dict]) -> list[dict]:
    return [{key: result[key] for key in ("arm", "seed", "error", "traceback")}
            for result in results if result["error"]]


def _write(out_dir: Path, stem: str, document: dict, write_html, plan: Plan, results: list[dict]) -> None:
    def write(folder: Path) -> None:
        (folder / f"{stem}.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        write_html(folder / f"{stem}.html", document, _summaries(plan, results), _errors(results))

    write_folder(out_dir, write)


def _check_out(out_dir: Path) -> None:
    problem = out_dir_problem(out_dir)
    if problem:
        _fail_input([f"--out {out_dir}: {problem}"])


def _number(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) >= 0.001 else f"{value:.1e}"


def _cell(stats: dict) -> str:
    if not stats["n"]:
        return "-"
    return f"{_number(stats['mean'])} ± {_number(stats['std'])}" if stats["std"] else _number(stats["mean"])


def _print_table(document: dict) -> None:
    labels = {metric["path"]: metric["label"] for metric in document["metrics"]}
    table = Table(title=f"{document['scenario']}: mean ± std over seeds "
                        f"{document['seeds'][0]}..{document['seeds'][-1]}",
                  title_justify="left")
    table.add_column("metric")
    for arm in document["arms"]:
        table.add_column(arm["name"], justify="right")
    for path in SUMMARY_METRICS:
        table.add_row(labels[path], *(_cell(arm["statistics"][path]) for arm in document["arms"]))
    table.add_row("runs passed all gates", *(f"{arm['passed']}/{arm['runs']}" for arm in document["arms"]))
    Console().print(table)


def _print_failed(document: dict) -> None:
    console = Console()
    for row in document["failed"]:
        console.print(f"[bold red]{row['arm']} seed {row['seed']}[/]: {row['reason']}\n  replay: {row['replay']}",
                      highlight=False, soft_wrap=True)


@click.command("compare")
@_shared_options
@click.option("--seeds", type=click.IntRange(min=1, max=SEEDS_MAX), default=5, show_default=True, help="Seeds per arm.")
def compare_command(scenario, patterns, variants, first_seed, overrides, engine, workers, cluster, out_dir, quiet,
                    skip_memory_check, seeds) -> None:
    """Run SCENARIO under each --pattern (and --variant) over the same seeds and write comparison.json
    and comparison.html. Exit 0 when every run completed, 1 when one raised, 2 on bad input."""
    plan = _plan(scenario, patterns, variants, seeds, first_seed, overrides, engine, swarm=False)
    out_dir = out_dir or Path("runs") / f"{plan.scenario.name}-compare"
    _check_out(out_dir)
    if not skip_memory_check:
        _check_memory(plan, workers, cluster)
    results, wall = _fan_out(plan, workers, cluster, quiet, skip_memory_check)
    document = _document(plan, results, wall, swarm=False)
    _write(out_dir, "comparison", document, write_comparison_html, plan, results)
    _print_table(document)
    errors = _errors(results)
    for error in errors:
        Console().print(f"[bold red]{error['arm']} seed {error['seed']} raised[/]: {error['error']}", highlight=False)
    Console().print(f"wrote {out_dir}/comparison.json, comparison.html ({len(results)} runs, "
                    f"{wall['total_s']:,.1f} s wall on {wall['executor']})", highlight=False)
    raise SystemExit(EXIT_FAILED if errors else 0)


@click.command("sweep")
@_shared_options
@click.option("--seeds", type=click.IntRange(min=1, max=SEEDS_MAX), required=True, help="Seeds per arm.")
@click.option("--swarm", is_flag=True, help="Each seed also draws its faults within the scenario's [swarm] bounds.")
def sweep_command(scenario, patterns, variants, first_seed, overrides, engine, workers, cluster, out_dir, quiet,
                  skip_memory_check, seeds, swarm) -> None:
    """Run SCENARIO over --seeds seeds (per --pattern / --variant arm) and write sweep.json and
    sweep.html: each metric's distribution over seeds, and every failed seed with the command that
    replays it. Exit 0 when every run passed its gates, 1 when one failed or raised, 2 on bad input."""
    plan = _plan(scenario, patterns, variants, seeds, first_seed, overrides, engine, swarm=swarm)
    out_dir = out_dir or Path("runs") / f"{plan.scenario.name}-sweep"
    _check_out(out_dir)
    if not skip_memory_check:
        _check_memory(plan, workers, cluster)
    results, wall = _fan_out(plan, workers, cluster, quiet, skip_memory_check)
    document = _document(plan, results, wall, swarm=swarm)
    _write(out_dir, "sweep", document, write_sweep_html, plan, results)
    _print_table(document)
    _print_failed(document)
    verdict = "[bold red]FAILED[/]" if document["failed"] else "[bold green]PASSED[/]"
    Console().print(f"{verdict}  {len(results) - len(document['failed'])}/{len(results)} runs passed; wrote "
                    f"{out_dir}/sweep.json, sweep.html ({wall['total_s']:,.1f} s wall on {wall['executor']})",
                    highlight=False)
    raise SystemExit(EXIT_FAILED if document["failed"] else 0)
