"""compare and sweep on bad input (exit 2, a clear message, no output folder) and on a run that
raises (reported for its seed; the sweep goes on)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from rehearse.sim import fanout
from rehearse.sim.cli import main
from rehearse.sim.plan import Arm, arms_from, plan_runs
from rehearse.sim.scenario import ScenarioError

FAST = ["--set", "traffic.subscriptions=60", "--set", "run.traffic_days=1", "--quiet", "--workers", "1"]


def _invoke(tmp_path, *args: str):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and not out.exists()
    return result.output


@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_an_unknown_pattern_is_refused_by_the_scenario_loader(tmp_path, command):
    output = _invoke(tmp_path, command, "smoke", "--seeds", "2", "--pattern", "orchestrated",
                     "--pattern", "carrier-pigeon")
    assert "carrier-pigeon: " in output and "engine.pattern" in output


@pytest.mark.parametrize("command", ["compare", "sweep"])
@pytest.mark.parametrize("spec", ["nonexistent_mod:create", "examples/no_such_file.py:create"])
def test_an_engine_that_cannot_be_loaded_is_refused_before_any_run(tmp_path, command, spec):
    """As `run` refuses it; it used to run every seed of its arm, fail each, and write the results."""
    output = _invoke(tmp_path, command, "smoke", "--seeds", "1", *FAST, "--engine", spec)
    assert f"engine '{spec}'" in output


@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_fewer_than_one_seed_is_refused(tmp_path, command):
    output = _invoke(tmp_path, command, "smoke", "--seeds", "0")
    assert "--seeds" in output and "0" in output


@pytest.mark.parametrize("command", ["compare", "sweep"])
@pytest.mark.parametrize("option", ["--seeds", "--workers"])
def test_a_count_beyond_any_fan_out_is_refused(tmp_path, command, option):
    """10^12 seeds ran out of memory planning the runs, 10^12 workers overflowed a C int: tracebacks."""
    args = ["--seeds", "1"] if option == "--workers" else []
    output = _invoke(tmp_path, command, "smoke", *args, option, "1000000000000")
    assert f"Invalid value for '{option}'" in output and "1000000000000 is not in the range" in output


def test_an_unreachable_cluster_is_refused_quickly(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(fanout, "CLUSTER_TIMEOUT_S", 1.0)
    started = time.perf_counter()
    output = _invoke(tmp_path, "sweep", "smoke", "--seeds", "1", "--cluster", "tcp://127.0.0.1:1")
    assert time.perf_counter() - started < 30  # a bound against hanging, not a timing assertion
    assert "--cluster tcp://127.0.0.1:1: cannot reach the scheduler within 1 s" in output


def test_a_malformed_cluster_address_is_refused(tmp_path):
    output = _invoke(tmp_path, "compare", "smoke", "--seeds", "1", "--cluster", "localhost")
    assert "expected a scheduler address such as tcp://host:8786" in output


@pytest.mark.parametrize(("address", "says"), [
    ("tls://127.0.0.1:1", "tls:// needs Dask's TLS settings"),
    ("ucx://127.0.0.1:1", "the ucx:// protocol is not installed"),
    ("tcp://a..b:8786", "not a valid host name: label empty or too long"),
    ("tcp://[::1", "Invalid IPv6 URL"),
])
def test_a_cluster_address_dask_could_never_connect_to_is_refused(tmp_path, address, says):
    """tls:// without TLS settings and ucx:// without its backend raised TypeError inside Dask's client."""
    pytest.importorskip("distributed")
    output = _invoke(tmp_path, "compare", "smoke", "--seeds", "1", "--cluster", address)
    assert f"--cluster {address}: {says}" in output


def test_a_client_that_failed_to_start_leaves_no_second_traceback(tmp_path):
    """Dask's client, left to the garbage collector, waited 10 s on the way out and printed a traceback."""
    pytest.importorskip("distributed")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "rehearse.sim.cli", "compare", "smoke", "--seeds", "1",
                             "--cluster", "inproc://nowhere", "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "--cluster inproc://nowhere: cannot reach the scheduler" in result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    assert time.perf_counter() - started < 60  # a bound against the 10 s wait per client, not a timing


def test_swarm_without_bounds_and_malformed_variants_are_refused(tmp_path):
    assert "needs a [swarm] section" in _invoke(tmp_path, "sweep", "smoke", "--seeds", "1", "--swarm")
    output = _invoke(tmp_path, "compare", "smoke", "--variant", "no colon", "--variant", "x:engine.dedupe=maybe")
    assert "expected NAME:dotted.key=value" in output
    output = _invoke(tmp_path, "compare", "smoke", "--variant", "x:engine.dedupe=maybe")
    assert "x: " in output and "engine.dedupe" in output


def test_arms_and_seeds_of_a_plan():
    assert arms_from(["orchestrated"], ["lax:engine.dedupe=false", "lax:engine.dependency_hold=false"]) == [
        Arm("orchestrated", ("engine.pattern=orchestrated",)),
        Arm("lax", ("engine.dedupe=false", "engine.dependency_hold=false")),
    ]
    with pytest.raises(ScenarioError, match="given twice"):
        arms_from(["orchestrated", "orchestrated"], [])
    plan = plan_runs("smoke", arms=[], seed_count=3, overrides=["run.seed=7"])
    assert plan.seeds == [7, 8, 9] and [arm.name for arm in plan.arms] == ["orchestrated"]
    spec = plan.specs[1]
    assert spec.seed == 8 and spec.replay_command() == "rehearse run smoke --seed 8 --set run.seed=7"
    plan = plan_runs("smoke", arms=arms_from([], ["lax:engine.dedupe=false"]), seed_count=1, first_seed=3,
                     overrides=["erp.concurrency_limit=4"])
    assert plan.specs[0].scenario.engine.dedupe is False and plan.specs[0].scenario.erp.concurrency_limit == 4
    assert plan.specs[0].replay_command() == (
        "rehearse run smoke --seed 3 --set erp.concurrency_limit=4 --set engine.dedupe=false")


def test_an_outside_engines_arm_replays_with_its_factory_override(monkeypatch):
    from rehearse.sim import plan as plan_module

    real_load = plan_module.load

    def load(name, overrides=()):  # the module need not exist to plan its runs
        return real_load(name, [o for o in overrides if not o.startswith("engine.factory=")])

    monkeypatch.setattr(plan_module, "load", load)
    plan = plan_runs("smoke", arms=arms_from(["orchestrated"], []), seed_count=1, overrides=["erp.concurrency_limit=4"],
                     engine="outside.engines:build")
    assert [spec.arm for spec in plan.specs] == ["orchestrated", "outside.engines"]
    assert plan.specs[1].replay_command() == ("rehearse run smoke --seed 1 --set erp.concurrency_limit=4 "
                                              "--set engine.factory=outside.engines:build")


def test_an_outside_engine_is_one_more_arm_beside_the_patterns(tmp_path):
    from pathlib import Path
    import shutil
    engine_file = tmp_path / "my_engine.py"  # outside the package, as a user's would be
    shutil.copy(Path(__file__).parents[3] / "examples" / "minimal_engine.py", engine_file)
    spec = f"{engine_file}:create"
    plan = plan_runs("smoke", arms=[Arm("orchestrated", ("engine.pattern=orchestrated",))], seed_count=1,
                     engine=spec)
    assert [spec_.arm for spec_ in plan.specs] == ["orchestrated", "my_engine"]
    assert f"engine.factory={spec}" in plan.specs[1].overrides
    assert not any(o.startswith("engine.factory") for o in plan.specs[0].overrides)
    out = tmp_path / "cmp"
    result = CliRunner().invoke(main, ["compare", "smoke", "--pattern", "orchestrated", "--engine", spec,
                                       "--seeds", "1", *FAST, "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads((out / "comparison.json").read_text())
    stats = {arm["name"]: arm["statistics"] for arm in document["arms"]}
    assert stats["my_engine"]["reconciliation.accuracy"]["mean"] == 1.0


def test_a_run_that_raises_is_reported_for_its_seed_and_the_sweep_goes_on(tmp_path, monkeypatch):
    real_run = fanout.runner.run

    def run(scenario, seed, **kwargs):
        if seed == 2:
            raise RuntimeError("the engine fell over")
        return real_run(scenario, seed, **kwargs)

    monkeypatch.setattr(fanout.runner, "run", run)
    out = tmp_path / "sweep"
    result = CliRunner().invoke(main, ["sweep", "smoke", "--seeds", "2", *FAST, "--out", str(out)])
    assert result.exit_code == 1, result.output
    document = json.loads((out / "sweep.json").read_text())
    runs = {run["seed"]: run for run in document["runs"]}
    assert runs[1]["error"] is None and runs[1]["passed"] is True
    assert runs[2]["error"] == "RuntimeError: the engine fell over" and runs[2]["values"] is None
    assert document["failed"] == [{"arm": "orchestrated", "seed": 2,
                                   "reason": "error: RuntimeError: the engine fell over",
                                   "replay": "rehearse run smoke --seed 2 --set traffic.subscriptions=60 "
                                             "--set run.traffic_days=1"}]
    assert document["arms"][0]["runs"] == 1 and document["arms"][0]["errors"][0]["seed"] == 2
    page = (out / "sweep.html").read_text()
    assert "Runs that raised" in page and "the engine fell over" in page
