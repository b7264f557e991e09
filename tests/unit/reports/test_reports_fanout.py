"""Many runs -> statistics per arm, the comparison/sweep document and its pages."""

from __future__ import annotations

from rehearse.reports import compute_metrics
from rehearse.reports.aggregate import COMPARED_METRICS, compared_values, distribution
from rehearse.reports.fanout import fanout_document
from rehearse.reports.fanout_html import write_comparison_html, write_sweep_html
from rehearse.reports.fanout_plots import backlog_zoom_h
from rehearse.reports.summary import run_summary
from rehearse.reports.testing import invoice_rows, run_rows, trace_frame


def test_distribution_skips_missing_values_and_uses_population_spread():
    assert distribution([2.0, None, 4.0, 6.0]) == {"n": 3, "mean": 4.0, "std": 1.632993, "min": 2.0, "p50": 4.0,
                                                   "max": 6.0}
    assert distribution([None]) == {"n": 0, "mean": None, "std": None, "min": None, "p50": None, "max": None}
    assert distribution([3.0, 1.0])["p50"] == 1.0  # the lower median: a value that was observed


def _metrics(seed: int, *, erp_t_s: float | None, gate: float = 1_000.0) -> dict:
    trace = trace_frame([*run_rows(0.0, 3_600.0), *invoice_rows("in_1", finalized_t_s=100.0, erp_t_s=erp_t_s)])
    return compute_metrics(trace, scenario="t", seed=seed, pattern="p",
                           gates={"invoice_to_erp_p95_s_max": gate, "missing_max": 0}), trace


def test_compared_values_read_every_metric_and_derive_recovery():
    metrics, _ = _metrics(1, erp_t_s=160.0)
    values = compared_values(metrics)
    assert list(values) == [metric.path for metric in COMPARED_METRICS]
    assert values["latency_s.invoice_to_erp.p95"] == 60.0 and values["passed"] == 1.0
    assert values["latency_s.payment_to_erp.p95"] is None  # no payment: no sample
    assert values["recovery_s_max"] is None and values["windows_unrecovered"] == 0.0
    metrics["recovery"] = [{"recovery_s": 30.0}, {"recovery_s": None}, {"recovery_s": 90.0}]
    values = compared_values(metrics)
    assert values["recovery_s_max"] == 90.0 and values["windows_unrecovered"] == 1.0


def _records():
    records, summaries = [], {"a": [], "b": []}
    for arm, erp_t_s in (("a", 160.0), ("b", None)):
        for seed in (2, 1):
            metrics, trace = _metrics(seed, erp_t_s=erp_t_s if seed == 1 or erp_t_s is None else 130.0)
            summary = run_summary(trace)
            records.append({"arm": arm, "seed": seed, "metrics": metrics, "summary": summary, "error": None,
                            "replay": f"rehearse run t --seed {seed}", "swarm_faults": [{"kind": "reply_lost"}]})
            summaries[arm].append(summary)
    records.append({"arm": "b", "seed": 3, "metrics": None, "summary": None, "error": "RuntimeError: x",
                    "replay": "rehearse run t --seed 3", "swarm_faults": []})
    return records, summaries


def test_the_document_sorts_runs_and_lists_failures_with_their_replay():
    records, _ = _records()
    document = fanout_document(scenario="t", seeds=[1, 2, 3], overrides=["x=1"],
                               arms=[("a", ["engine.pattern=a"]), ("b", [])], records=records, swarm=True)
    assert [(run["arm"], run["seed"]) for run in document["runs"]] == [("a", 1), ("a", 2), ("b", 1), ("b", 2), ("b", 3)]
    a, b = document["arms"]
    assert (a["runs"], a["passed"], b["runs"], b["passed"]) == (2, 2, 2, 0)
    assert a["statistics"]["latency_s.invoice_to_erp.p95"] == {"n": 2, "mean": 45.0, "std": 15.0, "min": 30.0,
                                                              "p50": 30.0, "max": 60.0}
    assert b["statistics"]["reconciliation.missing"]["mean"] == 1.0
    assert b["errors"] == [{"seed": 3, "error": "RuntimeError: x"}]
    assert document["failed"] == [
        {"arm": "b", "seed": 1, "reason": "gates failed: missing_max", "replay": "rehearse run t --seed 1"},
        {"arm": "b", "seed": 2, "reason": "gates failed: missing_max", "replay": "rehearse run t --seed 2"},
        {"arm": "b", "seed": 3, "reason": "error: RuntimeError: x", "replay": "rehearse run t --seed 3"},
    ]


def test_the_pages_are_self_contained_and_identical_for_identical_input(tmp_path):
    records, summaries = _records()
    document = fanout_document(scenario="t", seeds=[1, 2, 3], overrides=[], arms=[("a", []), ("b", [])],
                               records=records, swarm=True)
    document["wall"] = {"total_s": 1.5, "executor": "this process (1 worker)"}
    errors = [{"arm": "b", "seed": 3, "error": "RuntimeError: x", "traceback": "Traceback ...\nRuntimeError: x"}]
    for write, name in ((write_comparison_html, "comparison"), (write_sweep_html, "sweep")):
        first = write(tmp_path / f"{name}1.html", document, summaries, errors).read_bytes()
        second = write(tmp_path / f"{name}2.html", document, summaries, errors).read_bytes()
        assert first == second
        page = first.decode()
        assert "http" not in page.replace("http-equiv", "") and "<script" not in page
        assert "rehearse run t --seed 3" in page and "RuntimeError: x" in page and "Wall-clock" in page
    assert "kind=reply_lost" in (tmp_path / "sweep1.html").read_text()


def _summary(end_h: float, backlog_peak: int, zoom_h: list[float] | None) -> dict:
    return {"series": {"t_h": [0.0, end_h / 2, end_h], "erp_backlog": [0, backlog_peak, 0],
                       "exceptions_open": [0, 0, 0], "erp_backlog_zoom_h": zoom_h}}


def test_the_comparison_backlog_plot_zooms_over_every_runs_stretch():
    summaries = {"a": [_summary(24.0, 500, [2.9, 3.3]), _summary(24.0, 400, [3.0, 3.4])],
                 "b": [_summary(24.0, 700, [2.95, 4.3]), _summary(24.0, 0, None)]}  # nothing waited: ignored
    assert backlog_zoom_h(summaries) == (2.9, 4.3)


def test_the_comparison_backlog_plot_shows_the_whole_run_when_one_run_needs_it():
    spread = {"a": [_summary(24.0, 500, [2.9, 3.3])], "b": [_summary(24.0, 500, None)]}  # b waits all along
    assert backlog_zoom_h(spread) is None
    wide = {"a": [_summary(24.0, 500, [1.0, 3.0])], "b": [_summary(24.0, 500, [5.0, 8.0])]}  # 7 h of 24
    assert backlog_zoom_h(wide) is None
    assert backlog_zoom_h({"a": []}) is None


def test_the_pages_add_a_zoomed_backlog_plot_and_say_which_stretch(tmp_path):
    records, summaries = _records()
    document = fanout_document(scenario="t", seeds=[1, 2, 3], overrides=[], arms=[("a", []), ("b", [])],
                               records=records, swarm=False)

    def with_zoom(zoom_h):
        return {arm: [{**summary, "series": {**summary["series"], "erp_backlog_zoom_h": zoom_h}}
                      for summary in runs] for arm, runs in summaries.items()}

    def backlog_section(page: str) -> str:
        return page.split("<h2>ERP backlog over time</h2>", 1)[1].split("<h2>", 1)[0]

    for write in (write_comparison_html, write_sweep_html):  # the sweep page shows the backlog too
        zoomed = backlog_section(write(tmp_path / "zoomed.html", document, with_zoom([0.01, 0.2])).read_text())
        assert zoomed.count("data:image/png;base64,") == 2
        assert "<p>The peak, zoomed: hours 0.01 to 0.20 after the start of the run" in zoomed
        whole = backlog_section(write(tmp_path / "whole.html", document, with_zoom(None)).read_text())
        assert whole.count("data:image/png;base64,") == 1 and "zoomed" not in whole
