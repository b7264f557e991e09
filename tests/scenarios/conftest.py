"""Shared runs: each scenario runs once per test session and is reused by the tests below."""

import pytest

from rehearse.sim import runner
from rehearse.sim.scenario import load

SMALL = ["traffic.subscriptions=150", "run.traffic_days=2", "traffic.new_deals_per_day=15"]


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    scenario, _ = load("smoke")
    out = tmp_path_factory.mktemp("smoke") / "out"
    return runner.run(scenario, scenario.run.seed, out_dir=out)


@pytest.fixture(scope="session")
def small_scenario():
    scenario, _ = load("month-end", SMALL)
    return scenario
