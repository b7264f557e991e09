"""`rehearse contracts`: the contracts of the fakes and of the events, on the command line.

- ``rehearse contracts export [--check]``: each fake's OpenAPI document, generated from its app.
- ``rehearse contracts check``: Schemathesis against each fake (in process, or at a live URL).
- ``rehearse contracts diff OLD NEW [--format text|json]``: breaking changes between two versions of
  an OpenAPI document.
- ``rehearse contracts schemas [--check]``: the JSON Schemas of the webhook events, from the code.

Exit status: 0 when every check passed (nothing breaks, nothing drifted), 1 when one failed, 2 for
bad input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from rich.console import Console
from rich.table import Table

from rehearse.contracts.documents import (
    SYSTEMS,
    checked_in_dir,
    document_text,
    drift,
    load_document,
    write_documents,
)
from rehearse.sim.cli_types import NonEmptyPath
from rehearse.sim.http_faults import LiveClock
from rehearse.sim.scenario import ScenarioError, load
from rehearse.sim.served import ServedFakes, openapi_documents
from rehearse.sim.urls import http_url_problem

CONTRACTS_SCENARIO = "smoke"  # its entities (US01, EU01) and prices are the documents' examples


EXIT_FAILED = 1  # a check failed: drift, a breaking change, a contract violation
EXIT_BAD_INPUT = 2
T = TypeVar("T")


def _fail_input(message: str) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(EXIT_BAD_INPUT)


def _systems(selected: tuple[str, ...]) -> list[str]:
    return [system for system in SYSTEMS if not selected or system in selected]


@click.group("contracts")
def contracts() -> None:
    """Contracts: the fakes' OpenAPI documents (export, check with Schemathesis), breaking changes
    between two documents (diff), and the webhook events' JSON Schemas (schemas)."""


@contracts.command("export")
@click.option("--out", "out_dir", type=NonEmptyPath(file_okay=False, path_type=Path), default=None,
              help="Folder for <system>.json (default: the checked-in contracts/openapi).")
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit 1 if the documents in --out (default: the checked-in ones) differ from "
                   "the code.")
def export_command(out_dir: Path | None, check_only: bool) -> None:
    """Generate each fake's OpenAPI document from its app and write it as <system>.json."""
    scenario, _ = load(CONTRACTS_SCENARIO)
    documents = openapi_documents(scenario)
    target = out_dir or checked_in_dir()
    if check_only:
        texts = {f"{system}.json": document_text(documents[system]) for system in SYSTEMS}
        problems = _readable("--out", target, lambda: drift(target, texts))
        again = "rehearse contracts export" + (f" --out {out_dir}" if out_dir else "")
        for name, why in problems:
            click.echo(f"{target / name}: {'differs from the code' if why == 'differs' else why}; run `{again}`")
        sys.exit(EXIT_FAILED if problems else 0)
    try:
        written = write_documents(documents, target)
    except OSError as error:
        _fail_input(f"--out {target}: cannot write there: {_os_reason(error)}")
    for path in written:
        click.echo(f"wrote {path}")


@contracts.command("check")
@click.option("--system", "systems", multiple=True, type=click.Choice(SYSTEMS),
              help="Check only this fake (repeatable; default: all).")
@click.option("--url", default=None, help="Check a live server at this base URL instead (needs one --system).")
@click.option("--max-examples", type=click.IntRange(min=1), default=25, show_default=True,
              help="Test cases per operation and phase.")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def check_command(systems: tuple[str, ...], url: str | None, max_examples: int, seed: int, as_json: bool) -> None:
    """Run Schemathesis (every check, every phase, stateful sequences through the documents'
    links) against each fake in process, or against a live URL."""
    from rehearse.contracts.check import check_app, check_url

    if url is not None and len(systems) != 1:
        _fail_input("--url checks one system: give exactly one --system")
    if url is not None and (problem := http_url_problem(url)) is not None:
        _fail_input(f"--url {url!r}: {problem}")
    try:
        scenario, _ = load(CONTRACTS_SCENARIO)
    except ScenarioError as error:  # pragma: no cover - the built-in scenario is tested
        _fail_input("; ".join(error.messages))
        return
    results = []
    for system in _systems(systems):
        if url is not None:
            results.append(check_url(system, url, load_document(system), max_examples=max_examples, seed=seed))
        else:
            fakes = ServedFakes(scenario, seed, clock=LiveClock(scenario.run.start_s), erp_latency=False)
            results.append(check_app(system, fakes.apps[system], max_examples=max_examples, seed=seed))
    if as_json:
        click.echo(json.dumps([{"system": r.system, "operations": r.operations, "cases": r.cases,
                                "failures": [f._asdict() for f in r.failures], "errors": r.errors,
                                "passed": r.passed} for r in results], indent=2))
    else:
        _print(results)
    sys.exit(0 if all(result.passed for result in results) else EXIT_FAILED)


def _print(results) -> None:
    console = Console()
    table = Table(title="contract checks (Schemathesis: all checks, all phases)", title_justify="left")
    for column in ("system", "operations", "cases", "failures", "errors", "result"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for result in results:
        table.add_row(result.system, str(result.operations), f"{result.cases:,}", str(len(result.failures)),
                      str(len(result.errors)), "[green]pass[/]" if result.passed else "[bold red]FAIL[/]")
    console.print(table)
    for result in results:
        for failure in result.failures:
            console.print(f"[red]{result.system}[/] {failure.operation} [bold]{failure.check}[/]: {failure.message}",
                          highlight=False, soft_wrap=True)
        for error in result.errors:
            console.print(f"[red]{result.system}[/] error: {error}", highlight=False, soft_wrap=True)


@contracts.command("diff")
@click.argument("old", type=NonEmptyPath(path_type=Path))
@click.argument("new", type=NonEmptyPath(path_type=Path))
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              help="text: a list for people (default); json: one document for machines.")
def diff_command(old: Path, new: Path, output_format: str) -> None:
    """Report the changes from OLD to NEW (OpenAPI 3.x, JSON or YAML), breaking ones first.
    Exit 0 when nothing breaks, 1 when something does, 2 when a document cannot be read."""
    from rehearse.contracts.diff import BREAKING, DocumentError, diff_files

    try:
        changes = diff_files(old, new)
    except DocumentError as error:
        _fail_input(str(error))
        return
    breaking = [item for item in changes if item.severity == BREAKING]
    info = [item for item in changes if item.severity != BREAKING]
    if output_format == "json":
        click.echo(json.dumps({"old": str(old), "new": str(new), "breaking": len(breaking), "info": len(info),
                               "changes": [item.as_dict() for item in changes]}, indent=2))
    else:
        console = Console()
        for title, group, style in (("breaking changes", breaking, "bold red"), ("other changes", info, "yellow")):
            if not group:
                continue
            console.print(f"[{style}]{title} ({len(group)})[/]", highlight=False)
            for item in group:
                place = "  ".join(part for part in (item.where, item.field) if part)
                console.print(f"  [bold]{item.operation}[/]  {place}{'  ' if place else ''}"
                              f"[{style}]{item.kind}[/]: {item.detail}", highlight=False, soft_wrap=True)
        verdict = (f"[bold red]BREAKING[/]  {len(breaking)} breaking, {len(info)} other" if breaking
                   else f"[bold green]COMPATIBLE[/]  no breaking change, {len(info)} other")
        console.print(f"{verdict} ({old} -> {new})", highlight=False, soft_wrap=True)
    sys.exit(EXIT_FAILED if breaking else 0)


@contracts.command("schemas")
@click.option("--check", is_flag=True, help="Do not write: exit 1 when the checked-in schemas differ from the code.")
@click.option("--dir", "directory", type=NonEmptyPath(file_okay=False, path_type=Path), default=None,
              help="Folder of the schemas (default: the package's contracts/events).")
def schemas_command(check: bool, directory: Path | None) -> None:
    """Write the JSON Schemas of the webhook events (one per API version), generated from the
    canonical model, or check that the checked-in ones match it."""
    from rehearse.contracts import event_schemas

    directory = directory or event_schemas.EVENTS_DIR
    if directory.is_absolute() and directory.is_relative_to(Path.cwd()):
        directory = directory.relative_to(Path.cwd())
    if check:
        problems = _readable("--dir", directory, lambda: event_schemas.check_schemas(directory))
        for problem in problems:
            click.echo(f"drift: {problem}", err=True)
        if problems:
            sys.exit(EXIT_FAILED)
        click.echo(f"event schemas in {directory} match the code ({len(event_schemas.VERSIONS)} API versions)")
        return
    try:
        written = event_schemas.write_schemas(directory)
    except OSError as error:
        _fail_input(f"--dir {directory}: cannot write there: {_os_reason(error)}")
    for path in written:
        click.echo(f"wrote {path}")


def _readable(option: str, directory: Path, check: Callable[[], list[T]]) -> list[T]:
    """What `check` finds in `directory`, a folder that must exist (exit 2 naming the option when it
    does not, or when a file in it cannot be read: a check of nothing is not drift)."""
    if not directory.is_dir():
        _fail_input(f"{option} {directory}: {'not a folder' if directory.exists() else 'no such folder'}")
    try:
        return check()
    except OSError as error:
        _fail_input(f"{option} {directory}: cannot read: {_os_reason(error)}")
        raise AssertionError("_fail_input exits") from None  # pragma: no cover


def _os_reason(error: OSError) -> str:
    """The reason an OS call failed, with the file it failed on when that is known."""
    reason = error.strerror or str(error)
    return f"{reason}: {error.filename}" if error.filename else reason
