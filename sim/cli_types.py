"""Command-line parameter types shared by the commands."""

from __future__ import annotations

import math
from typing import Any

import click

from rehearse.sim.urls import host_problem

__all__ = ["FiniteFloatRange", "HostName", "NonEmptyPath"]


class FiniteFloatRange(click.FloatRange):
    """`click.FloatRange` that also refuses nan and inf, which compare false to every bound and so
    pass a range check (`--speedup nan` used to crash a live run; `--duration-s nan` stopped at once)."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


class HostName(click.ParamType):
    """A host name or address to bind or connect to, refused when no resolver could look it up
    (`host_problem`: ``serve --host a..b`` raised from deep in asyncio)."""

    name = "host"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if (problem := host_problem(value)) is not None:
            self.fail(f"{value!r}: {problem}.", param, ctx)
        return value


class NonEmptyPath(click.Path):
    """`click.Path` that refuses an empty path, which `pathlib` reads as the current folder
    (``contracts export --out ""`` wrote into it; ``engine --config ""`` was called a folder)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value:
            self.fail("an empty path; " + ("give a folder (. for the current one)." if not self.file_okay
                                           else "give a file."), param, ctx)
        return super().convert(value, param, ctx)
