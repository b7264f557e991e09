"""A simulated run's trace stays on disk as spilled chunks for as long as its result is used, and
no temporary file outlives it, or a run that failed."""

from __future__ import annotations

import gc
import tempfile

import polars as pl
import pytest

from rehearse.sim import runner
from rehearse.sim.scenario import load
from rehearse.sim.world import World

SHORT = ["traffic.subscriptions=30", "run.traffic_days=0.3"]


def spill_dirs(root):
    return sorted(root.glob("rehearse-trace-*"))


def test_the_spilled_trace_lives_as_long_as_the_simulation(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    scenario, _ = load("smoke", SHORT)
    simulation = runner.simulate(scenario, 5)
    assert len(spill_dirs(tmp_path)) == 1
    assert simulation.recorded.height == simulation.trace.height > 0
    assert simulation.recorded.scan().collect().equals(simulation.trace)
    del simulation
    gc.collect()
    assert spill_dirs(tmp_path) == []


def test_a_failed_simulation_leaves_no_spilled_trace(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    scenario, _ = load("smoke", SHORT)

    def broken(_world):
        raise RuntimeError("the book could not be loaded")

    monkeypatch.setattr(World, "load_book", broken)
    with pytest.raises(RuntimeError, match="could not be loaded"):
        runner.simulate(scenario, 5)
    assert spill_dirs(tmp_path) == []


def test_a_run_writes_the_trace_it_returns(tmp_path):
    scenario, _ = load("smoke", SHORT)
    result = runner.run(scenario, 5, out_dir=tmp_path / "out")
    written = pl.read_parquet(tmp_path / "out" / "trace.parquet")
    assert written.equals(result.trace)
    assert result.metrics["wall"]["trace_rows"] == written.height == result.recorded.height
