"""report.html: self-contained, byte-identical for the same input, with both plots."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from rehearse.reports import compute_metrics, trace_frame, write_report
from rehearse.reports.plots import backlog_png, merged_spans
from rehearse.reports.testing import invoice_rows, payment_rows, run_rows


@pytest.fixture(scope="module")
def trace() -> pl.DataFrame:
    return trace_frame(
        [
            *run_rows(0.0, 20_000.0),
            *invoice_rows("in_1", expected_state="paid", erp_t_s=1_100.0),
            *payment_rows("ch_1", "in_1"),
            *invoice_rows("in_2", finalized_t_s=3_000.0, erp_t_s=None),
            *invoice_rows("in_<3>", finalized_t_s=5_000.0, erp_t_s=9_000.0, entity="E&2"),
        ]
    )


@pytest.fixture(scope="module")
def metrics(trace: pl.DataFrame) -> dict:
    return compute_metrics(
        trace, scenario="peak <1st>", seed=42, pattern="batch", gates={"missing_max": 0}
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory, trace, metrics) -> tuple[Path, Path]:
    first = write_report(tmp_path_factory.mktemp("first") / "nested", trace, metrics)
    second = write_report(tmp_path_factory.mktemp("second"), trace, metrics)
    return first, second


def test_the_report_is_written_and_byte_identical_twice(report):
    first, second = report
    assert first.name == "report.html" and first.parent.name == "nested"
    assert first.read_bytes() == second.read_bytes()


def test_the_report_embeds_two_png_plots_and_references_nothing_outside(report):
    html = report[0].read_text(encoding="utf-8")
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', html)
    assert len(images) == 2
    assert all(len(image) > 1_000 for image in images)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html


def test_the_report_shows_the_run_the_verdict_and_every_section(report):
    html = report[0].read_text(encoding="utf-8")
    assert "peak &lt;1st&gt;" in html and "peak <1st>" not in html  # escaped
    assert '<div class="banner fail">FAIL</div>' in html
    for heading in (
        "How to read this report",
        "Gates",
        "Reconciliation",
        "Invariants",
        "Latency",
        "Resilience",
        "ERP backlog",
    ):
        assert heading in html
    assert "in_2" in html  # listed among the unreconciled sources
    assert "E&amp;2" in html
    assert "Wall-clock" not in html


def test_an_empty_run_renders_and_wall_clock_measures_are_shown_apart(tmp_path):
    trace = trace_frame(run_rows(0.0, 0.0))
    metrics = compute_metrics(trace, scenario="empty", seed=0, pattern="p2p", gates={})
    metrics["wall"] = {"run_s": 12.5, "rows_per_s": 800_000}
    html = write_report(tmp_path, trace, metrics).read_text(encoding="utf-8")
    assert '<div class="banner pass">PASS</div>' in html
    assert html.count("data:image/png;base64,") == 2
    assert "Wall-clock" in html
    assert "800,000" in html


def _backlog_section(html: str) -> str:
    return html.split("<h3>ERP backlog over virtual time</h3>", 1)[1].split("<h2>", 1)[0]


def test_the_backlog_plot_adds_a_zoom_on_a_short_peak_and_says_so(tmp_path):
    # three days; 300 invoices at the start of day two reach the ERP within five minutes
    records = [*run_rows(0.0, 3 * 86_400.0)]
    records += [row for number in range(1, 301)
                for row in invoice_rows(f"in_{number:03d}", finalized_t_s=86_400.0, erp_t_s=86_400.0 + number)]
    trace = trace_frame(records)
    metrics = compute_metrics(trace, scenario="peak", seed=1, pattern="orchestrated", gates={})
    section = _backlog_section(write_report(tmp_path, trace, metrics).read_text(encoding="utf-8"))
    assert section.count("data:image/png;base64,") == 2  # the whole run, then the peak
    # 298 s of backlog, padded by five minutes on either side
    assert re.search(r"<p>(The peak, zoomed: [^<]*)</p>", section).group(1) == (
        "The peak, zoomed: 23.92 to 24.17 h after the start of the run (1970-01-01 23:55:00 UTC to "
        "1970-01-02 00:09:58 UTC), around the moment most sources waited, for as long as at least 1% "
        "of that many waited."
    )


def test_the_backlog_plot_has_no_zoom_when_the_backlog_spans_the_run(report):
    section = _backlog_section(report[0].read_text(encoding="utf-8"))
    assert section.count("data:image/png;base64,") == 1 and "zoomed" not in section


def test_latencies_are_shown_to_the_millisecond(tmp_path):
    trace = trace_frame([*run_rows(0.0, 1_000.0),
                         *invoice_rows("in_1", finalized_t_s=100.0, erp_t_s=130.1234567)])
    metrics = compute_metrics(trace, scenario="t", seed=1, pattern="orchestrated", gates={})
    assert metrics["latency_s"]["invoice_to_erp"]["p50"] == pytest.approx(30.1234567)  # metrics keep it all
    html = write_report(tmp_path, trace, metrics).read_text(encoding="utf-8")
    latency = html.split("<h2>Latency (seconds, virtual time)</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<td>invoice_to_erp</td><td class=\"n\">1</td><td class=\"n\">30.123</td>" in latency
    assert "30.1234" not in latency


def test_a_zoomed_backlog_plot_shades_only_the_fault_windows_it_shows():
    series = pl.DataFrame({"t_s": [3_600.0, 5_400.0, 7_200.0], "invoices_waiting": [0, 5, 0],
                           "payments_waiting": [0, 2, 0]})

    def windows(*spans):
        return pl.DataFrame({"start_t_s": [span[0] for span in spans], "end_t_s": [span[1] for span in spans]},
                            schema={"start_t_s": pl.Float64, "end_t_s": pl.Float64})

    bare = backlog_png(series, 0.0, None)
    assert backlog_png(series, 0.0, windows((10_000.0, 11_000.0))) == bare  # after the stretch: not drawn
    assert backlog_png(series, 0.0, windows((4_000.0, 5_000.0))) != bare


def test_fault_windows_closer_than_a_pixel_are_shaded_as_one_span():
    # Two days sampled every minute; a window every minute (2,880 of them) was 2,880 artists that the
    # legend's "best" placement tested, seconds of matplotlib. Closer than a pixel, they draw as one.
    t_s = [60.0 * minute for minute in range(2 * 24 * 60)]
    series = pl.DataFrame({"t_s": t_s, "invoices_waiting": [minute % 7 for minute in range(len(t_s))],
                           "payments_waiting": [minute % 5 for minute in range(len(t_s))]})
    every_minute = pl.DataFrame({"start_t_s": t_s, "end_t_s": [start + 20.0 for start in t_s]})
    one_span = pl.DataFrame({"start_t_s": [0.0], "end_t_s": [t_s[-1] + 20.0]})
    assert backlog_png(series, 0.0, every_minute) == backlog_png(series, 0.0, one_span)


def test_merged_spans_keeps_apart_what_a_pixel_separates_and_joins_the_rest():
    from_x = np.array([5.0, 0.0, 1.05, 9.0])
    to_x = np.array([6.0, 1.0, 2.0, 9.5])
    assert merged_spans(from_x, to_x, 0.1) == [(0.0, 2.0), (5.0, 6.0), (9.0, 9.5)]
    assert merged_spans(from_x, to_x, 0.01) == [(0.0, 1.0), (1.05, 2.0), (5.0, 6.0), (9.0, 9.5)]
    assert merged_spans(np.array([]), np.array([]), 0.1) == []


def test_thousands_of_fault_windows_list_only_the_slowest_to_recover(tmp_path, trace, metrics):
    windows = [{"kind": "maintenance", "start_t_s": 60.0 * index, "end_t_s": 60.0 * index + 20.0,
                "backlog_at_start": 0, "backlog_peak": 1, "recovery_s": float(index % 70)}
               for index in range(200)]
    windows[7]["recovery_s"] = None  # not back by the cut-off: the slowest of all
    busy = {**metrics, "recovery": windows,
            "faults": [{"kind": "maintenance", "injected": 200, "affected": 3, "affected_postings": 3,
                        "recovered": 3, "first_t_s": 0.0, "last_t_s": 12_000.0}]}
    html = write_report(tmp_path, trace, busy).read_text(encoding="utf-8")
    recovery = html.split("<h3>Recovery after each fault window</h3>", 1)[1].split("</table>", 1)[0]
    assert "200 fault windows; the 50 slowest to recover are shown" in recovery
    rows = re.findall(r'<tr><td>maintenance</td>.*?</tr>', recovery)
    assert len(rows) == 50
    recovery_s = [float(value) for value in re.findall(r'<td class="n">([0-9.]+)</td></tr>', recovery)]
    # Window 7 (never recovered) and the 49 slowest of the rest.
    assert len(recovery_s) == 49
    assert min(recovery_s) >= sorted((w["recovery_s"] for w in windows if w["recovery_s"] is not None),
                                     reverse=True)[48]
    assert "<td>1970-01-01 00:07:00 UTC</td>" in recovery  # window 7 starts at 420 s
    assert html.count("<td>maintenance</td>") == 51  # the 50 windows and the summary row
