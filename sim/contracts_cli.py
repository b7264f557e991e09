"""`rehearse contracts`: the contracts of the fakes and of the events, on the command line.

- ``rehearse contracts diff OLD NEW [--format text|json]``: breaking changes between two versions of
  an OpenAPI document. Exit 0 when there is none, 1 when there is one, 2 on bad input.
- ``rehearse contracts schemas [--check]``: write the JSON Schemas of the webhook events from the
  code, or (``--check``) exit 1 when the checked-in files differ from it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

EXIT_BREAKING = 1
EXIT_BAD_INPUT = 2


def _fail_input(messages: list[str]) -> None:
    console = Console(stderr=True)
    for message in messages:
        console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(EXIT_BAD_INPUT)


@click.group("contracts")
def contracts() -> None:
    """Contracts: the fakes' OpenAPI documents (export, check with Schemathesis), breaking changes
    between two documents (diff), and the webhook events' JSON Schemas (schemas)."""


@contracts.command("diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              help="text: a list for people (default); json: one document for machines.")
def diff_command(old: Path, new: Path, output_format: str) -> None:
    """Report the changes from OLD to NEW (OpenAPI 3.x, JSON or YAML), breaking ones first.
    Exit 0 when nothing breaks, 1 when something does, 2 when a document cannot be read."""
    from rehearse.contracts.diff import BREAKING, DocumentError, diff_files

    try:
        changes = diff_files(old, new)
    except DocumentError as error:
        _fail_input([str(error)])
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
    sys.exit(EXIT_BREAKING if breaking else 0)


@contracts.command("schemas")
@click.option("--check", is_flag=True, help="Do not write: exit 1 when the checked-in schemas differ from the code.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of the schemas (default: the package's contracts/events).")
def schemas_command(check: bool, directory: Path | None) -> None:
    """Write the JSON Schemas of the webhook events (one per API version), generated from the
    canonical model, or check that the checked-in ones match it."""
    from rehearse.contracts import event_schemas

    directory = directory or event_schemas.EVENTS_DIR
    if directory.is_absolute() and directory.is_relative_to(Path.cwd()):
        directory = directory.relative_to(Path.cwd())
    if check:
        problems = event_schemas.check_schemas(directory)
        for problem in problems:
            click.echo(f"drift: {problem}", err=True)
        if problems:
            sys.exit(1)
        click.echo(f"event schemas in {directory} match the code ({len(event_schemas.VERSIONS)} API versions)")
        return
    try:
        written = event_schemas.write_schemas(directory)
    except OSError as error:
        _fail_input([f"--dir {directory}: cannot write there: {error.strerror or error}"])
    for path in written:
        click.echo(f"wrote {path}")
