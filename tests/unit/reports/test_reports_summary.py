"""The per-run summary a sweep ships back from its workers: latency quantiles and series."""

from __future__ import annotations

import pytest

from rehearse.reports import trace_frame
from rehearse.reports.frame import KindFrames
from rehearse.reports.summary import (
    LATENCY_QUANTILES, SERIES_POINTS, erp_backlog_series, exceptions_open_series, run_summary,
)
from rehearse.reports.testing import invoice_rows, run_rows


def _row(kind: str, object_id: str, t_s: float) -> dict:
    return {"t_s": t_s, "kind": kind, "object_id": object_id}


def test_exceptions_open_series_holds_the_most_open_in_each_interval():
    trace = trace_frame([
        *run_rows(0.0, 100.0),
        _row("engine.exception_opened", "a", 10.0),
        _row("engine.exception_opened", "a", 15.0),  # opened again while open: still one
        _row("engine.exception_opened", "b", 20.0),
        _row("engine.exception_resolved", "a", 30.0),
        _row("engine.exception_resolved", "a", 35.0),  # resolved twice: no negative count
        _row("engine.exception_opened", "a", 60.0),
    ])
    series = exceptions_open_series(KindFrames(trace), 10.0)
    assert series["t_s"].to_list() == [float(t) for t in range(0, 101, 10)]
    assert series["exceptions_open"].to_list() == [0, 1, 2, 2, 1, 1, 2, 2, 2, 2, 2]


def test_erp_backlog_series_holds_the_most_waiting_in_each_interval():
    trace = trace_frame([
        *run_rows(0.0, 100.0),
        *invoice_rows("in_1", finalized_t_s=12.0, erp_t_s=44.0),
        *invoice_rows("in_2", finalized_t_s=15.0, erp_t_s=25.0),
        *invoice_rows("in_3", finalized_t_s=61.0, erp_t_s=62.0),
    ])
    series = erp_backlog_series(KindFrames(trace), 10.0)
    assert series["t_s"].to_list() == [float(t) for t in range(0, 101, 10)]
    # in_1 and in_2 wait together from 15 s to 25 s; in_3 waits a second inside (60, 70]
    assert series["erp_backlog"].to_list() == [0, 0, 2, 2, 1, 1, 0, 1, 0, 0, 0]


@pytest.mark.parametrize("series", [erp_backlog_series, exceptions_open_series])
def test_a_series_step_must_be_positive(series):
    with pytest.raises(ValueError, match="step_s must be > 0, got 0"):
        series(KindFrames(trace_frame(run_rows(0.0, 100.0))), 0.0)


def test_run_summary_holds_quantiles_and_fixed_length_series():
    records = [*run_rows(0.0, 7_200.0)]
    for index in range(10):
        records += invoice_rows(f"in_{index}", finalized_t_s=100.0, erp_t_s=100.0 + 10.0 * (index + 1))
    # one invoice waits nearly the whole run, so the backlog matters all along: no zoom
    records += invoice_rows("in_slow", finalized_t_s=100.0, erp_t_s=7_000.0)
    summary = run_summary(trace_frame(records))
    invoices = summary["latency"]["invoice_to_erp"]
    assert invoices["count"] == 11 and len(invoices["quantiles_s"]) == LATENCY_QUANTILES
    assert invoices["quantiles_s"][0] == 10.0 and invoices["quantiles_s"][-1] == 6_900.0
    assert summary["latency"]["payment_to_erp"] == {"count": 0, "quantiles_s": []}
    series = summary["series"]
    assert len(series["t_h"]) == len(series["erp_backlog"]) == len(series["exceptions_open"]) == SERIES_POINTS
    assert series["t_h"][0] == 0.0 and series["t_h"][-1] == 2.0
    assert series["erp_backlog_zoom_h"] is None
    # samples every 30.125 s hold the most waiting since the one before: eleven invoices finalized at
    # 100 s (sample 4, at 120.5 s), nine still waiting when sample 5's interval begins
    assert series["erp_backlog"][:6] == [0, 0, 0, 0, 11, 9] and series["erp_backlog"][-1] == 0


def test_run_summary_samples_a_short_peak_densely_and_says_where():
    # a day; 300 invoices at 10:00 reach the ERP one a second
    records = [*run_rows(0.0, 86_400.0)]
    records += [row for number in range(1, 301)
                for row in invoice_rows(f"in_{number:03d}", finalized_t_s=36_000.0, erp_t_s=36_000.0 + number)]
    series = run_summary(trace_frame(records))["series"]
    # busy from 36,000 s until fewer than 3 wait (36,298 s), padded by five minutes
    assert series["erp_backlog_zoom_h"] == [round(35_700 / 3_600, 6), round(36_598 / 3_600, 6)]
    t_h = series["t_h"]
    assert t_h == sorted(t_h) and t_h[0] == 0.0 and t_h[-1] == 24.0
    inside = [index for index, hours in enumerate(t_h) if 35_700 / 3_600 <= hours <= 36_598 / 3_600]
    assert len(inside) >= SERIES_POINTS  # the even grid's few samples there, plus SERIES_POINTS more
    peak = [series["erp_backlog"][index] for index in inside]
    assert max(peak) == 300 and peak[0] == 0 and peak[-1] == 0
    # the peak drains one a second: samples every 3.75 s see it fall in some eighty steps, where the
    # even grid alone (one sample every six minutes) has three samples in the whole stretch
    assert len(set(peak)) > 50
