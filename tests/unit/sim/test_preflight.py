"""The memory pre-flight: a run too big for this machine is refused before it starts, naming the
keys that size it; `--no-memory-check` runs it anyway."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from rehearse.sim import preflight
from rehearse.sim.cli import main
from rehearse.sim.preflight import (
    cluster_memory_problem,
    memory_estimate_mib,
    memory_problem,
    renewal_peaks,
    subscriptions_max,
)
from rehearse.sim.scenario import load

FAST = ["--set", "traffic.subscriptions=80", "--set", "run.traffic_days=1", "--quiet"]


def _scenario(*overrides: str):
    scenario, _ = load("month-end", list(overrides))
    return scenario


@pytest.mark.parametrize(("start", "days", "peaks"), [
    ("2026-01-31T00:00:00Z", 3, 1),    # month-end: the 1st of February
    ("2026-01-31T00:00:00Z", 35, 2),   # February and March
    ("2026-02-01T00:00:00Z", 1, 1),    # starts on a 1st: that 1st counts
    ("2026-02-01T00:00:01Z", 1, 1),    # no 1st inside: still one (subscriptions anchored elsewhere renew)
    ("2026-01-10T00:00:00Z", 365, 12),
])
def test_renewal_peaks_count_the_month_starts_in_the_traffic_window(start, days, peaks):
    assert renewal_peaks(_scenario(f'run.start="{start}"', f"run.traffic_days={days}")) == peaks


def test_subscriptions_max_adds_every_new_deal_the_window_can_bring():
    scenario = _scenario("traffic.subscriptions=1000", "traffic.new_deals_per_day=2.5", "run.traffic_days=3")
    assert subscriptions_max(scenario) == 1008  # 7.5 deals rounded up


def test_the_estimate_grows_with_subscriptions_and_peaks():
    small = memory_estimate_mib(_scenario("traffic.subscriptions=1000"))
    big = memory_estimate_mib(_scenario("traffic.subscriptions=1000000"))
    two_peaks = memory_estimate_mib(_scenario("traffic.subscriptions=1000000", "run.traffic_days=35"))
    assert preflight.PROCESS_BASE_MIB < small < 300 < 4096 < big < two_peaks
    # The benchmark's million peaked at 3,747 MiB: the estimate errs above it, not below.
    assert big > 3747


def test_a_run_that_fits_has_no_problem_and_one_that_does_not_names_its_keys():
    scenario = _scenario("traffic.subscriptions=2000000")
    assert memory_problem(scenario, available_mib=64 * 1024.0) is None
    problem = memory_problem(scenario, available_mib=8 * 1024.0)
    assert problem is not None
    assert "traffic.subscriptions=2,000,000" in problem and "traffic.new_deals_per_day=" in problem
    assert "run.traffic_days=3" in problem and "1 renewal peak;" in problem
    assert "the 8.0 GiB this machine has available" in problem and "--no-memory-check" in problem


def test_runs_at_once_are_counted_together():
    scenario = _scenario("traffic.subscriptions=1000000")
    each_mib = memory_estimate_mib(scenario)
    assert memory_problem(scenario, processes=1, available_mib=each_mib * 1.5) is None
    problem = memory_problem(scenario, processes=2, available_mib=each_mib * 1.5)
    assert problem is not None and "2 runs at once" in problem and "fewer --workers" in problem


def test_the_machine_reports_some_memory_available():
    assert preflight.memory_available_mib() > 0


def test_run_refuses_a_run_too_big_for_the_memory_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(preflight, "memory_available_mib", lambda: 100.0)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "smoke", "--out", str(out), *FAST])
    assert result.exit_code == 2, result.output
    assert "smoke.toml" in result.output and "traffic.subscriptions=80" in result.output
    assert "0.1 GiB this machine has available" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_no_memory_check_runs_it_anyway(tmp_path, monkeypatch):
    monkeypatch.setattr(preflight, "memory_available_mib", lambda: 100.0)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "smoke", "--out", str(out), "--no-memory-check", *FAST])
    assert result.exit_code == 0, result.output
    assert (out / "metrics.json").exists()


@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_compare_and_sweep_count_their_workers(tmp_path, monkeypatch, command):
    smoke, _ = load("smoke", ["traffic.subscriptions=60", "run.traffic_days=1"])
    fits_one_run = memory_estimate_mib(smoke) * 1.5
    monkeypatch.setattr(preflight, "memory_available_mib", lambda: fits_one_run)
    out = tmp_path / "out"
    args = [command, "smoke", "--seeds", "2", "--set", "traffic.subscriptions=60", "--set", "run.traffic_days=1",
            "--quiet", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--workers", "2"])
    assert result.exit_code == 2, result.output
    assert "2 runs at once" in result.output and not out.exists()
    result = CliRunner().invoke(main, [*args, "--workers", "1"])  # one run at a time fits
    assert result.exit_code == 0, result.output


# -- a Dask cluster's workers: each holds its threads' runs within its memory limit ------------------------

def test_a_cluster_worker_must_hold_one_run_per_thread_within_its_limit():
    scenario = _scenario("traffic.subscriptions=1000000")
    run_mib = memory_estimate_mib(scenario) - preflight.PROCESS_BASE_MIB
    two_runs_mib = preflight.PROCESS_BASE_MIB + 2 * run_mib
    roomy = {"tcp://a:1": (2, two_runs_mib + 1.0)}
    assert cluster_memory_problem(scenario, roomy, runs=8) is None
    unlimited = {"tcp://a:1": (64, None)}  # Dask says 0 for a worker without a limit
    assert cluster_memory_problem(scenario, unlimited, runs=8) is None
    # Threads beyond the runs of the fan-out hold nothing.
    assert cluster_memory_problem(scenario, {"tcp://a:1": (16, two_runs_mib + 1.0)}, runs=2) is None
    mixed = {"tcp://b:1": (2, two_runs_mib - 1.0), "tcp://a:1": (1, two_runs_mib), "tcp://c:1": (4, None)}
    problem = cluster_memory_problem(scenario, mixed, runs=8)
    assert problem is not None
    assert "traffic.subscriptions=1,000,000" in problem and "1 of the cluster's 3 workers" in problem
    assert "tcp://b:1 would need about" in problem and "2 runs at once (one a thread;" in problem
    assert "--no-memory-check" in problem


def _cluster(memory_limit: str):
    distributed = pytest.importorskip("distributed")
    # In this process (inproc://): seconds to start, where a cluster of processes takes up to 16 s.
    return distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, memory_limit=memory_limit,
                                    dashboard_address=None)


@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_a_cluster_whose_workers_cannot_hold_the_runs_is_refused(tmp_path, command):
    out = tmp_path / "out"
    with _cluster("100MiB") as cluster:
        result = CliRunner().invoke(main, [command, "smoke", "--seeds", "2", "--cluster", cluster.scheduler_address,
                                           "--quiet", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "1 of the cluster's 1 workers cannot hold their runs" in result.output
    assert "memory limit of 0.1 GiB" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_no_memory_check_skips_the_cluster_check(tmp_path, monkeypatch):
    from rehearse.sim import cli_fanout

    seen = {}

    def capture(workers, cluster=None, *, check_cluster=None, **_):
        seen["check_cluster"] = check_cluster
        raise cli_fanout.ClusterError("stop here")

    monkeypatch.setattr(cli_fanout, "open_executor", capture)
    args = ["sweep", "smoke", "--seeds", "1", "--cluster", "tcp://127.0.0.1:1", "--quiet",
            "--out", str(tmp_path / "out")]
    CliRunner().invoke(main, args)
    assert seen["check_cluster"] is not None
    CliRunner().invoke(main, [*args, "--no-memory-check"])
    assert seen["check_cluster"] is None


def test_p2p_without_a_backlog_limit_costs_more_the_bigger_the_peak():
    """Its abandoned requests wait for a worker: 6,090 MiB measured at 200,000 subscriptions, where
    the other patterns take about 1 GiB."""
    p2p = _scenario("traffic.subscriptions=200000", 'engine.pattern="p2p"')
    assert memory_estimate_mib(p2p) > 6090 > 1300 > memory_estimate_mib(_scenario("traffic.subscriptions=200000"))
    shedding = _scenario("traffic.subscriptions=200000", 'engine.pattern="p2p"', "engine.p2p.backlog_max=2")
    assert preflight.subscription_peak_kib(shedding) == preflight.SUBSCRIPTION_PEAK_KIB
    sizes = [preflight.subscription_peak_kib(_scenario(f"traffic.subscriptions={n}", 'engine.pattern="p2p"'))
             for n in (1000, 30000, 100000, 1000000)]
    assert sizes[0] == preflight.SUBSCRIPTION_PEAK_KIB and sizes == sorted(sizes) and len(set(sizes)) == 4
    problem = memory_problem(p2p, available_mib=4096.0)
    assert problem is not None and "about 31.9 KiB a subscription and peak under p2p without engine.p2p.backlog_max" \
        in problem


def test_a_receiver_that_is_down_costs_more():
    """The sender holds every event and its next try: receiver-down-long measured 2,387 MiB at
    200,000 subscriptions, where month-end takes about 1 GiB."""
    down, _ = load("receiver-down-long", ["traffic.subscriptions=200000"])
    assert preflight.subscription_peak_kib(down) == preflight.RECEIVER_DOWN_KIB
    assert memory_estimate_mib(down) > 2387
    problem = memory_problem(down, available_mib=2048.0)
    assert problem is not None and "KiB a subscription and peak with a receiver_down fault" in problem
    both, _ = load("receiver-down-long", ["traffic.subscriptions=1000000", 'engine.pattern="p2p"'])
    assert preflight.subscription_peak_kib(both) > preflight.RECEIVER_DOWN_KIB  # the larger of the two


# -- gap-fill: sweeping often over a long window makes a small scenario slow; warned, not refused ----------

def test_gap_fill_sweeps_count_the_traffic_window_only_for_an_engine_that_sweeps():
    assert preflight.gap_fill_sweeps(_scenario("run.traffic_days=3")) == 12  # every six hours
    assert preflight.gap_fill_sweeps(_scenario("run.traffic_days=3", "engine.gap_fill_interval_s=60")) == 4320
    assert preflight.gap_fill_sweeps(_scenario("engine.gap_fill=false")) == 0
    assert preflight.gap_fill_sweeps(_scenario('engine.pattern="batch"')) == 0
    assert preflight.gap_fill_sweeps(_scenario('engine.factory="rehearse.sync.p2p:P2pEngine"')) == 0


def test_the_default_gap_fill_does_not_warn_even_at_a_million():
    assert preflight.gap_fill_warning(_scenario("traffic.subscriptions=1000000")) is None


def test_gap_fill_every_minute_over_weeks_warns_naming_the_setting():
    """Fuzzing found missing-master-data with a sweep a minute over 36 days (about 10,700
    subscriptions) taking 300 s against 12 s."""
    slow, _ = load("missing-master-data", ["run.traffic_days=36", "engine.gap_fill_interval_s=60",
                                           "traffic.new_deals_per_day=280"])
    warning = preflight.gap_fill_warning(slow)
    assert warning is not None
    assert warning.startswith("engine.gap_fill_interval_s=60: about 51,840 gap-fill sweeps over run.traffic_days=36")
    assert "10,580 subscriptions" in warning and "minutes" in warning and "engine.gap_fill=false" in warning
    assert 120 < preflight.gap_fill_seconds(slow) < 3600
    assert preflight.gap_fill_warning(load("missing-master-data", ["run.traffic_days=36"])[0]) is None


def test_run_prints_the_gap_fill_warning_and_still_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(preflight, "GAP_FILL_WARN_S", 0.0)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "smoke", "--out", str(out), *FAST])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "engine.gap_fill_interval_s=21600" in result.output
    assert (out / "metrics.json").exists()


def test_a_fan_out_warns_about_its_slowest_arm(tmp_path, monkeypatch):
    monkeypatch.setattr(preflight, "GAP_FILL_WARN_S", 0.0)
    result = CliRunner().invoke(main, ["compare", "smoke", "--seeds", "1", "--pattern", "batch", "--pattern",
                                       "orchestrated", *FAST, "--workers", "1", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "(arm orchestrated)" in result.output
