"""Command-line parameter types shared by the commands."""

from __future__ import annotations

import math
from typing import Any

import click

__all__ = ["FiniteFloatRange"]


class FiniteFloatRange(click.FloatRange):
    """`click.FloatRange` that also refuses nan and inf, which compare false to every bound and so
    pass a range check (`--speedup nan` used to crash a live run; `--duration-s nan` stopped at once)."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number
