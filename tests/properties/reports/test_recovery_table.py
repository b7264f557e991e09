"""`recovery_table` answers as its definition does, window by window, whatever the samples and the
windows: the backlog when the window opened (the last sample at or before its start), its peak
inside the window (both ends included), and the time from the window's end to the first sample at
or after it that is back at or below the starting level."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from rehearse.reports.faults import recovery_table


def defined(windows: pl.DataFrame, backlog: pl.DataFrame) -> list[dict]:
    """The definition, one filter at a time (the function's first version)."""
    waiting = backlog.select("t_s", (pl.col("invoices_waiting") + pl.col("payments_waiting")).alias("waiting"))
    rows = []
    for window in windows.iter_rows(named=True):
        before = waiting.filter(pl.col("t_s") <= window["start_t_s"])
        level = int(before["waiting"][-1]) if before.height else 0
        during = waiting.filter(pl.col("t_s").is_between(window["start_t_s"], window["end_t_s"]))
        peak = int(during["waiting"].max()) if during.height else level
        back = waiting.filter((pl.col("t_s") >= window["end_t_s"]) & (pl.col("waiting") <= level))
        rows.append({
            "kind": window["kind"], "start_t_s": window["start_t_s"], "end_t_s": window["end_t_s"],
            "backlog_at_start": level, "backlog_peak": peak,
            "recovery_s": float(back["t_s"][0] - window["end_t_s"]) if back.height else None,
        })
    return rows


samples = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=40)
spans = st.lists(st.tuples(st.integers(-5, 3700), st.integers(0, 900)), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(samples, spans)
def test_recovery_table_is_its_definition(sample_steps, window_spans):
    times = [60.0 * minute for minute, _, _ in sorted(set(sample_steps))]  # a step series, as backlog_series gives
    rows = sorted(set(sample_steps))
    backlog = pl.DataFrame({"t_s": times, "invoices_waiting": [row[1] for row in rows],
                            "payments_waiting": [row[2] for row in rows]})
    windows = pl.DataFrame({"kind": ["outage"] * len(window_spans), "name": [""] * len(window_spans),
                            "start_t_s": [float(start) for start, _ in window_spans],
                            "end_t_s": [float(start + length) for start, length in window_spans]})
    assert recovery_table(windows, backlog) == defined(windows, backlog)
