"""Swarm mode: each seed of a sweep also draws which faults are on and how strong they are.

A scenario sets the bounds in a ``[swarm]`` section: a list of candidate faults, each a catalogue
entry (`rehearse.sim.faults`) with the chance it is on in a seed and a range for each numeric field
that is drawn::

    [[swarm.faults]]
    probability = 0.5                                  # on in about half the seeds
    fault = { kind = "reply_lost", probability = 0.01 }
    ranges = { probability = [0.001, 0.05] }           # drawn uniformly per seed

    [[swarm.faults]]
    probability = 0.3
    fault = { kind = "maintenance", window = { start = "2026-02-01T00:30:00Z", end = "2026-02-01T01:00:00Z" } }
    ranges = { "window.every_s" = [3600, 7200], "window.duration_s" = [300, 1800] }

A range with two integer ends draws integers; otherwise floats, rounded to `DRAW_DECIMALS` so that
the replay command shows exactly the value that ran. Every candidate is checked at load at every
corner of its ranges; the catalogue's constraints are linear inequalities between fields (a minimum
below a maximum, a duration within its period, a probability in [0, 1]), so a box whose corners
are valid is valid inside, and no draw can be rejected later.

The draw for seed N uses the seeded stream ``stream(N, "swarm")`` and draws every candidate's
values whether or not it is on, so one candidate's bounds never shift what another draws. The drawn
faults are added to the scenario's own ``[[faults]]`` (``keep_scenario_faults = false`` replaces
them), and the whole list becomes one ``--set faults=[...]`` override: `rehearse run` with it
replays the seed exactly (`rehearse run` itself ignores ``[swarm]``).
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from rehearse.sim.faults import Fault, Probability
from rehearse.sim.seeds import stream

__all__ = ["DRAW_DECIMALS", "SwarmCandidate", "SwarmSection", "draw_faults", "faults_override", "toml_literal"]

DRAW_DECIMALS = 4  # finer than any fault knob matters, short enough to read in a command line
CORNERS_CHECKED_MAX = 64  # 2 ** 6 ranges per candidate; more is refused at load
_FAULT = TypeAdapter(Fault)
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
Bound = int | float


def _set_path(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `data` with the dotted `path` set (nested tables copied, not shared)."""
    head, _, rest = path.partition(".")
    copy = dict(data)
    if rest:
        inner = copy.get(head)
        copy[head] = _set_path(inner if isinstance(inner, dict) else {}, rest, value)
    else:
        copy[head] = value
    return copy


def _get_path(value: Any, path: str) -> Any:
    for step in path.split("."):
        value = getattr(value, step, None)
    return value


def _first_error(error: ValidationError) -> str:
    item = error.errors()[0]
    where = ".".join(str(part) for part in item["loc"][1:])  # loc[0] is the fault kind
    return f"{where + ': ' if where else ''}{item['msg'].removeprefix('Value error, ')}"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SwarmCandidate(_Section):
    """A fault a swarm may switch on: a catalogue entry, the chance it is on in a seed, and a
    ``[low, high]`` range for each numeric field (dotted for nested ones: ``window.duration_s``)
    that is drawn per seed."""

    probability: Probability
    fault: dict[str, Any]
    ranges: dict[str, Annotated[list[Bound], Field(min_length=2, max_length=2)]] = {}

    @model_validator(mode="after")
    def _valid_everywhere(self) -> SwarmCandidate:
        for path, (low, high) in sorted(self.ranges.items()):
            if isinstance(low, bool) or isinstance(high, bool) or low > high:
                raise ValueError(f"ranges.{path}: expected [low, high] numbers with low <= high, got {[low, high]}")
        if len(self.ranges) > 6:
            raise ValueError(f"ranges: at most 6 ranges per candidate ({CORNERS_CHECKED_MAX} corners are checked)")
        paths = sorted(self.ranges)
        for corner in itertools.product((0, 1), repeat=len(paths)):
            data = self.fault
            for path, end in zip(paths, corner):
                data = _set_path(data, path, self.ranges[path][end])
            try:
                fault = _FAULT.validate_python(data)
            except ValidationError as error:
                at = ", ".join(f"{path}={self.ranges[path][end]}" for path, end in zip(paths, corner))
                raise ValueError(f"fault{' with ' + at if at else ''}: {_first_error(error)}") from None
            for path in paths:
                value = _get_path(fault, path)
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"ranges.{path}: not a numeric field of a {fault.kind} fault")
        return self


class SwarmSection(_Section):
    """The bounds a sweep's swarm mode draws each seed's faults from."""

    faults: Annotated[list[SwarmCandidate], Field(min_length=1)]
    keep_scenario_faults: bool = True  # the draws are added to the scenario's [[faults]] (else replace them)


def _draw(rng, low: Bound, high: Bound) -> Bound:
    if isinstance(low, int) and isinstance(high, int):
        return rng.randint(low, high)
    value = round(low + rng.random() * (high - low), DRAW_DECIMALS)
    return min(max(value, float(low)), float(high))  # rounding must not step outside the range


def draw_faults(section: SwarmSection, seed: int) -> list[dict[str, Any]]:
    """The faults one seed switches on, as catalogue entries (plain data), in candidate order.

    A fault without a name is named ``swarm-<candidate index>``, so the report says which
    candidate struck.
    """
    rng = stream(seed, "swarm")
    drawn = []
    for index, candidate in enumerate(section.faults):
        on = rng.random() < candidate.probability
        data = candidate.fault
        for path in sorted(candidate.ranges):
            data = _set_path(data, path, _draw(rng, *candidate.ranges[path]))
        if on:
            drawn.append(data if data.get("name") else {**data, "name": f"swarm-{index}"})
    return drawn


def toml_literal(value: Any) -> str:
    """A TOML inline literal for plain data (what ``--set key=value`` reads back to the same value)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back to the same float: valid TOML
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string with ASCII escapes is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_literal(item) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{key if _BARE_KEY.match(key) else json.dumps(key)} = {toml_literal(item)}"
                 for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"no TOML literal for {value!r}")


def faults_override(scenario_faults: list, drawn: list[dict[str, Any]], *, keep_scenario_faults: bool) -> str:
    """The ``--set`` override that gives a run exactly these faults: ``faults=[...]``."""
    kept = ([fault.model_dump(mode="json", exclude_defaults=True) for fault in scenario_faults]
            if keep_scenario_faults else [])
    return "faults=" + toml_literal([*kept, *drawn])
