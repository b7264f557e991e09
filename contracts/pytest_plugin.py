"""The pytest plugin: rehearsals as fixtures, for a team's CI (entry point ``pytest11: rehearse``).

Fixtures:

- ``rehearse_run``: a function ``run(scenario=None, *, seed=None, set=(), engine=None)`` that runs a
  scenario as ``rehearse run`` does and returns an `Outcome` (``.metrics``, ``.trace``, ``.passed``,
  ``.gate(name)``, ``.failed_gates``, ``.metric("dotted.path")``).
- ``rehearse_world``: a `SteppedWorld` (fakes and engine on a SimPy clock) the test drives:
  ``run_for(hours=1)``, ``inject({...}, for_s=600)``, ``crash_engine()``, ``run_to_end()``,
  ``finish()``; with ``erp``, ``billing``, ``payments`` and ``engine`` to look inside.
- ``rehearse_scenario``: the validated scenario of the test; ``rehearse_seed``: its seed.

A marker chooses the scenario: ``@pytest.mark.rehearse("smoke", set=["run.traffic_days=0.5"],
seed=7, record_events=True)``; without one it is the built-in ``smoke``. The seed is the first of:
an explicit ``seed=``, the marker's, ``--rehearse-seed N``, the scenario's ``run.seed``.
``--rehearse-out DIR`` writes each ``rehearse_run``'s report.html, metrics.json and trace.parquet
under DIR. A failing test shows the command that replays each of its runs.

Nothing heavy is imported until a fixture is used, so loading the plugin costs a test suite nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

DEFAULT_SCENARIO = "smoke"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rehearse", "rehearse: rehearsals of quote-to-cash integrations")
    group.addoption("--rehearse-seed", type=int, default=None, metavar="N",
                    help="Seed of rehearsals that name none (default: each scenario's run.seed).")
    group.addoption("--rehearse-out", default=None, metavar="DIR",
                    help="Write each rehearse_run's metrics.json, report.html and trace.parquet under DIR.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "rehearse(scenario='smoke', *, set=(), seed=None, record_events=False): the scenario, "
                   "overrides and seed of the test's rehearse_* fixtures")


def _marker(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("rehearse")
    if marker is None:
        return {"scenario": DEFAULT_SCENARIO, "set": (), "seed": None, "record_events": False}
    unknown = set(marker.kwargs) - {"scenario", "set", "seed", "record_events"}
    if unknown or len(marker.args) > 1:
        pytest.fail(f"@pytest.mark.rehearse: takes (scenario, *, set=, seed=, record_events=); "
                    f"got args {marker.args} and {sorted(unknown)}", pytrace=False)
    overrides = marker.kwargs.get("set", ())
    return {
        "scenario": marker.args[0] if marker.args else marker.kwargs.get("scenario", DEFAULT_SCENARIO),
        "set": (overrides,) if isinstance(overrides, str) else tuple(overrides),
        "seed": marker.kwargs.get("seed"),
        "record_events": bool(marker.kwargs.get("record_events", False)),
    }


def _replay_command(scenario: Any, seed: int, overrides: tuple[str, ...]) -> str:
    sets = "".join(f" --set '{item}'" for item in overrides)
    return f"rehearse run {scenario} --seed {seed}{sets}"


@pytest.fixture
def rehearse_seed(request: pytest.FixtureRequest) -> int | None:
    """The seed of this test's rehearsals: the marker's, else ``--rehearse-seed``, else None (each
    scenario's own ``run.seed``)."""
    marked = _marker(request)["seed"]
    return marked if marked is not None else request.config.getoption("rehearse_seed")


@pytest.fixture
def rehearse_scenario(request: pytest.FixtureRequest):
    """The test's scenario (marker ``rehearse``, default ``smoke``), loaded and validated."""
    from rehearse.contracts.rehearsal import RehearsalError, load_scenario

    marked = _marker(request)
    try:
        return load_scenario(marked["scenario"], marked["set"])
    except RehearsalError as error:
        pytest.fail("rehearse: " + "\n".join(error.messages), pytrace=False)


@pytest.fixture
def rehearse_run(request: pytest.FixtureRequest, rehearse_seed: int | None):
    """A function that runs a scenario and returns its `Outcome`: ``run(scenario=None, *,
    seed=None, set=(), engine=None)``. Without a scenario it runs the marker's (its overrides
    first, then `set`)."""
    from rehearse.contracts.rehearsal import load_scenario, rehearse

    marked = _marker(request)
    out_root = request.config.getoption("rehearse_out")
    runs = 0

    def run(scenario: Any = None, *, seed: int | None = None, set: tuple[str, ...] | list[str] = (),
            engine: str | None = None):
        nonlocal runs
        overrides = (set,) if isinstance(set, str) else tuple(set)
        if scenario is None:
            scenario, overrides = marked["scenario"], marked["set"] + overrides
        if engine:
            overrides += (f'engine.pattern="{engine}"',)
        loaded = load_scenario(scenario, overrides)
        chosen = seed if seed is not None else rehearse_seed if rehearse_seed is not None else loaded.run.seed
        runs += 1
        out_dir = None
        if out_root:
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid).strip("_")
            out_dir = Path(out_root) / f"{name}-{runs}-{loaded.name}-seed{chosen}"
        request.node.add_report_section("call", "rehearse", f"replay: {_replay_command(scenario, chosen, overrides)}"
                                        + (f"\nreport: {out_dir}/report.html" if out_dir else ""))
        return rehearse(loaded, seed=chosen, out_dir=out_dir)

    return run


@pytest.fixture
def rehearse_world(request: pytest.FixtureRequest, rehearse_scenario, rehearse_seed: int | None):
    """A `SteppedWorld` of the test's scenario, at the start of its traffic window."""
    from rehearse.contracts.rehearsal import SteppedWorld

    marked = _marker(request)
    seed = rehearse_seed if rehearse_seed is not None else rehearse_scenario.run.seed
    request.node.add_report_section("setup", "rehearse",
                                    f"world: {_replay_command(marked['scenario'], seed, marked['set'])}")
    world = SteppedWorld(rehearse_scenario, seed, record_events=marked["record_events"])
    try:
        yield world
    finally:
        world.close()
