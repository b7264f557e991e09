"""A run tells its progress callback which phase it is in, so a long run never looks stalled."""

from rehearse.sim import runner
from rehearse.sim.scenario import load

SHORT = ["traffic.subscriptions=30", "run.traffic_days=0.2"]


def test_run_reports_every_phase_in_order(tmp_path):
    scenario, _ = load("smoke", SHORT)
    calls: list[tuple[float, float, str]] = []
    result = runner.run(scenario, 2, out_dir=tmp_path / "out",
                        progress=lambda now_s, end_s, phase: calls.append((now_s, end_s, phase)))
    # Each phase in this order (traffic reports every virtual hour; a drain, when the window ends
    # with work left, every virtual minute).
    phases = [phase for phase in dict.fromkeys(phase for _, _, phase in calls) if phase != "drain"]
    assert phases == ["loading the book", "traffic", "reconciling", "writing the report"]
    assert calls[0][0] == scenario.run.start_s
    times = [now_s for now_s, _, _ in calls]
    assert times == sorted(times)  # virtual time never goes back
    assert (tmp_path / "out" / "report.html").is_file() and result.metrics["passed"]


def test_without_an_output_folder_nothing_is_written_and_no_writing_phase(tmp_path):
    scenario, _ = load("smoke", SHORT)
    phases: list[str] = []
    runner.run(scenario, 2, progress=lambda now_s, end_s, phase: phases.append(phase))
    assert phases[-1] == "reconciling" and "writing the report" not in phases
