"""The `rehearse` command line.

Exit status: 0 when every gate passed, 1 when a gate failed, 2 for bad input (a wrong scenario
file, key, value or argument, an outside engine that cannot be loaded), 3 when the engine under
test failed during the run (it raised, answered with the wrong type, or stopped virtual time).
Neither bad input nor a failed engine leaves an output folder behind.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rehearse.contracts.consumer import ContractViolation
from rehearse.sim import runner
from rehearse.sim.cli_fanout import compare_command, sweep_command
from rehearse.sim.cli_live import engine_command, serve_command
from rehearse.sim.cli_types import FiniteFloatRange
from rehearse.sim.outputs import out_dir_problem
from rehearse.sim.plugins import EngineFailure, EngineLoadError, load_factory
from rehearse.sim.preflight import gap_fill_warning, memory_problem
from rehearse.sim.scenario import ScenarioError, builtin_names, load
from rehearse.sync.model import format_utc
from rehearse.sync.store_url import StoreUnavailable, redact, url_problem

EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_ENGINE_FAILED = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C; never a gate's 1


def _fail_input(messages: list[str]) -> None:
    console = Console(stderr=True)
    for message in messages:
        console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(EXIT_BAD_INPUT)


# The commands whose results appear in their --out folder only whole, at the end (see sim/outputs.py).
WHOLE_OUTPUT_COMMANDS = ("run", "compare", "sweep")


class _Commands(click.Group):
    """The command group; a Ctrl-C that a command does not take as its way to stop (serve and engine
    do) ends it with its own exit status, saying what it left."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            left = ("; no output folder was written or replaced" if ctx.invoked_subcommand in WHOLE_OUTPUT_COMMANDS
                    else "")
            Console(stderr=True).print(f"\n[bold red]interrupted:[/] stopped before the end{left}", highlight=False)
            ctx.exit(EXIT_INTERRUPTED)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rehearse")
def main() -> None:
    """rehearse: a dress rehearsal for quote-to-cash integrations."""


@main.command("scenarios")
def scenarios_command() -> None:
    """List the built-in scenarios, one line each."""
    for name in builtin_names():
        try:
            scenario, _ = load(name)
            description = scenario.description
        except ScenarioError as error:
            description = f"(invalid: {error.messages[0]})"
        click.echo(f"{name:<17} {description}")


@main.command("run")
@click.argument("scenario")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Root seed (default: the scenario's run.seed).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: runs/<scenario>-seed<seed>).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a scenario value, e.g. --set erp.concurrency_limit=5 (repeatable).")
@click.option("--engine", "engine_spec", metavar="MODULE:FACTORY", default=None,
              help="Run an engine from outside: package.module:factory or path/to/file.py:factory "
                   "(the same as --set engine.factory=...).")
@click.option("--stall-limit-s", type=FiniteFloatRange(min=0.1), default=runner.STALL_LIMIT_S, show_default=True,
              help="Stop the run when virtual time stands still this many wall seconds (a hung engine).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--no-memory-check", "skip_memory_check", is_flag=True,
              help="Run even when the run's estimated peak memory exceeds what this machine has available.")
@click.option("--validate-contracts", is_flag=True,
              help="Check every request the engine sends against the provider's OpenAPI document; "
                   "a violation fails the run.")
@click.option("--live", is_flag=True,
              help="Run the engine against the fakes served over HTTP on loopback (real sockets, signed "
                   "webhooks, SQLite Store), on a clock --speedup times faster than the wall.")
@click.option("--speedup", type=FiniteFloatRange(min=0.001), default=60.0, show_default=True,
              help="With --live: scenario seconds per wall second (60: an hour in a minute).")
@click.option("--store-url", envvar="REHEARSE_STORE_URL", default=None, metavar="postgresql://...",
              help="With --live: keep the engine's Store on this PostgreSQL server (in a schema of the run's "
                   "own, dropped at the end) instead of SQLite. Also read from $REHEARSE_STORE_URL; a password "
                   "can stay out of it in $PGPASSWORD.")
def run_command(scenario: str, seed: int | None, out_dir: Path | None, overrides: tuple[str, ...],
                engine_spec: str | None, stall_limit_s: float, quiet: bool, skip_memory_check: bool,
                validate_contracts: bool, live: bool, speedup: float, store_url: str | None) -> None:
    """Run SCENARIO (a built-in name or a .toml path) and write metrics.json, report.html and
    trace.parquet. Exit 0 when all gates pass, 1 when one fails (or a request breaks a contract),
    2 on bad input, 3 when the engine under test fails during the run."""
    if live and validate_contracts:
        _fail_input(["--validate-contracts checks a simulated run's requests; a live run sends them for real"])
    if live and engine_spec is not None:
        _fail_input(["--engine runs an outside engine in virtual time; --live runs the built-in patterns"])
    if store_url is not None and not live:
        _fail_input(["--store-url: a PostgreSQL Store is for live runs (--live); a simulated run keeps its "
                     "Store in memory or SQLite (engine.store)"])
    if store_url is not None and (problem := url_problem(store_url)):
        _fail_input([f"--store-url {redact(store_url)}: {problem}"])
    if engine_spec is not None:
        overrides = (*overrides, f"engine.factory={json.dumps(engine_spec)}")
    try:
        # A live engine keeps its state in SQLite, or in PostgreSQL when given a URL.
        store_choice = 'engine.store="postgres"' if store_url else 'engine.store="sqlite"'
        loaded, path = load(scenario, list(overrides) + ([store_choice] if live else []))
        if loaded.engine.factory is not None:
            load_factory(loaded.engine.factory)  # fail now, before anything runs
    except ScenarioError as error:
        _fail_input(error.messages)
        return
    except EngineLoadError as error:
        _fail_input([error.message])
        return
    if live and loaded.engine.factory is not None:  # set in the scenario or by --set, not --engine
        _fail_input([f"{path}: engine.factory: an outside engine runs in virtual time; --live runs the built-in "
                     "patterns"])
    if loaded.engine.store == "postgres" and store_url is None:
        _fail_input([f"{path}: engine.store: \"postgres\" needs --store-url (a live run); the URL stays out of the "
                     "scenario, whose parameters are traced"])
    if not skip_memory_check and (problem := memory_problem(loaded)):
        _fail_input([f"{path}: {problem}"])
    seed = loaded.run.seed if seed is None else seed
    out_dir = out_dir or Path("runs") / f"{loaded.name}-seed{seed}"
    problem = out_dir_problem(out_dir)
    if problem:
        _fail_input([f"--out {out_dir}: {problem}"])
    console = Console(stderr=True)
    console.print(f"[bold]rehearse run[/] scenario [cyan]{loaded.name}[/] ({path}) seed [cyan]{seed}[/] "
                  f"{'engine' if loaded.engine.factory else 'pattern'} [cyan]{loaded.engine.label}[/]"
                  + (f" [bold]live[/] over HTTP on loopback, speedup {speedup:g}" if live else ""), highlight=False)
    console.print("parameters: " + "  ".join(_flatten(runner.resolved_parameters(loaded, seed))),
                  style="dim", highlight=False)
    if (warning := gap_fill_warning(loaded)) is not None:
        console.print(f"[bold yellow]warning:[/] {path}: {warning}", highlight=False, soft_wrap=True)
    start_s = loaded.run.start_s
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[clock]}"),
                  TimeElapsedColumn(), console=console, transient=True, disable=quiet) as progress:
        task = progress.add_task("traffic", total=loaded.run.traffic_days * 24.0, clock=format_utc(start_s))

        def on_progress(now_s: float, window_end_s: float, phase: str) -> None:
            progress.update(task, completed=min(now_s, window_end_s) / 3600.0 - start_s / 3600.0,
                            description=phase, clock=format_utc(now_s))

        contracts = _consumer_contracts() if validate_contracts else None
        try:
            if live:
                from rehearse.sim import live as live_mode

                result = live_mode.run(loaded, seed, speedup=speedup, out_dir=out_dir, progress=on_progress,
                                       store_url=store_url)
            else:
                result = runner.run(loaded, seed, out_dir=out_dir, progress=on_progress,
                                    stall_limit_s=stall_limit_s, contracts=contracts)
        except EngineFailure as error:
            progress.stop()
            console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            console.print("no output written: the run did not finish", highlight=False)
            sys.exit(EXIT_ENGINE_FAILED)
        except StoreUnavailable as error:
            progress.stop()
            _fail_input([f"--store-url: {error}"])
        except ContractViolation as violation:
            progress.stop()
            console.print(f"[bold red]contract violation:[/] {violation}", highlight=False, soft_wrap=True)
            sys.exit(EXIT_GATE_FAILED)
    if contracts is not None:
        console.print(f"contracts: {contracts.checked:,} requests checked against the providers' documents, "
                      "none broke them", highlight=False)
    _print_summary(Console(), result.metrics, out_dir)
    sys.exit(0 if result.metrics["passed"] else EXIT_GATE_FAILED)


def _consumer_contracts():
    from rehearse.contracts.consumer import ConsumerContracts
    from rehearse.contracts.documents import load_document

    return ConsumerContracts({system: load_document(system) for system in ("billing", "payments", "erp")})


def _flatten(value, prefix: str = "") -> list[str]:
    """`key=value` for every leaf, in the dotted form `--set` accepts."""
    if isinstance(value, dict):
        return [item for key in sorted(value) for item in _flatten(value[key], f"{prefix}{key}.")]
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [item for index, entry in enumerate(value) for item in _flatten(entry, f"{prefix}{index}.")]
    return [f"{prefix[:-1]}={json.dumps(value)}"]


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _print_summary(console: Console, metrics: dict, out_dir: Path) -> None:
    recon = metrics["reconciliation"]
    table = Table(title="reconciliation", title_justify="left")
    for column in ("", "expected", "matched", "missing", "duplicated", "mismatched", "orphaned"):
        table.add_column(column, justify="right" if column else "left")
    for name in ("invoices", "payments", "reversals"):
        row = recon.get(name)
        if row is None or (name == "reversals" and not row["expected"] and not row["orphaned"]):
            continue  # no debit came back: no row
        table.add_row(name, *(_fmt(row[key]) for key in ("expected", "matched", "missing", "duplicated",
                                                         "mismatched", "orphaned")))
    console.print(table)
    latency = Table(title="latency to ERP (virtual seconds)", title_justify="left")
    for column in ("", "p50", "p95", "p99", "max"):
        latency.add_column(column, justify="right" if column else "left")
    for name in ("invoice_to_erp", "payment_to_erp"):
        row = metrics["latency_s"][name]
        latency.add_row(name, *(_fmt(row[key]) for key in ("p50", "p95", "p99", "max")))
    console.print(latency)
    resilience = metrics["resilience"]
    failed_invariants = [item["id"] for item in recon["invariants"] if not item["holds"]]
    console.print(
        f"accuracy {_fmt(recon['accuracy'])}  invariants {len(recon['invariants']) - len(failed_invariants)}/"
        f"{len(recon['invariants'])} hold"
        f"{'' if not failed_invariants else ' (failed: ' + ', '.join(failed_invariants) + ')'}  "
        f"ERP calls {_fmt(resilience['erp_calls'])}  retries {_fmt(resilience['retries'])}  "
        f"failed posting rate {_fmt(resilience['failed_posting_rate'])}  "
        f"open exceptions {_fmt(resilience['exceptions_open'])}",
        highlight=False)
    gates = Table(title="gates", title_justify="left")
    for column in ("gate", "value", "limit", "result"):
        gates.add_column(column, justify="left" if column == "gate" else "right")
    for gate in metrics["gates"]:
        gates.add_row(gate["name"], _fmt(gate["value"]), _fmt(gate["limit"]),
                      "[green]pass[/]" if gate["passed"] else "[bold red]FAIL[/]")
    console.print(gates)
    wall = metrics.get("wall", {})
    verdict = "[bold green]PASSED[/]" if metrics["passed"] else "[bold red]FAILED[/]"
    console.print(f"{verdict}  wrote {out_dir}/metrics.json, report.html, trace.parquet "
                  f"({_fmt(wall.get('trace_rows'))} trace rows, {_fmt(wall.get('total_s'))} s wall)", highlight=False)


from rehearse.sim.cli_contracts import contracts  # noqa: E402 (registered after the core commands)

main.add_command(contracts)
main.add_command(compare_command)
main.add_command(sweep_command)
main.add_command(serve_command)
main.add_command(engine_command)


if __name__ == "__main__":  # pragma: no cover
    main()
