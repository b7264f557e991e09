"""Latency percentiles and the backlog series."""

from __future__ import annotations

import polars as pl
import pytest

from rehearse.reports import backlog_series, compute_metrics, trace_frame
from rehearse.reports.latency import backlog_peak_span
from rehearse.reports.testing import invoice_rows, payment_rows, run_rows


def metrics_of(records: list[dict]) -> dict:
    return compute_metrics(trace_frame(records), scenario="t", seed=1, pattern="p", gates={})


def test_percentiles_are_nearest_rank_on_a_known_sample():
    # latencies 1..100 s, written in a shuffled order
    records = run_rows(0.0, 10_000.0)
    for number in (37, *range(1, 37), *range(38, 101)):
        records += invoice_rows(f"in_{number:03d}", finalized_t_s=100.0, erp_t_s=100.0 + number)
    latency = metrics_of(records)["latency_s"]
    # x[round(q * (n - 1))] over sorted x: p50 -> x[50] (49.5 rounds up), p95 -> x[94], p99 -> x[98]
    assert latency["invoice_to_erp"] == {
        "count": 100,
        "p50": 51.0,
        "p95": 95.0,
        "p99": 99.0,
        "max": 100.0,
    }
    assert latency["payment_to_erp"] == {
        "count": 0,
        "p50": None,
        "p95": None,
        "p99": None,
        "max": None,
    }


def test_latency_starts_at_the_source_and_ends_at_the_first_erp_document():
    records = [
        *run_rows(0.0, 10_000.0),
        *invoice_rows("in_1", finalized_t_s=100.0, erp_t_s=130.0, erp_copies=3),
        *payment_rows("ch_1", "in_1", succeeded_t_s=200.0, erp_t_s=207.5),
        *payment_rows("ch_never", "in_1", succeeded_t_s=200.0, erp_t_s=None),
    ]
    latency = metrics_of(records)["latency_s"]
    assert latency["invoice_to_erp"]["max"] == 30.0
    assert latency["payment_to_erp"]["count"] == 1
    assert latency["payment_to_erp"]["p99"] == 7.5


def test_latency_per_entity():
    records = [
        *run_rows(0.0, 10_000.0),
        *invoice_rows("in_1", entity="E1", finalized_t_s=0.0, erp_t_s=10.0),
        *invoice_rows("in_2", entity="E2", finalized_t_s=0.0, erp_t_s=20.0),
        *payment_rows("ch_2", "in_2", entity="E2", succeeded_t_s=0.0, erp_t_s=5.0),
    ]
    by_entity = metrics_of(records)["latency_s"]["by_entity"]
    assert [row["entity"] for row in by_entity] == ["E1", "E2"]
    assert by_entity[0]["invoice_to_erp"]["p50"] == 10.0
    assert by_entity[0]["payment_to_erp"]["count"] == 0
    assert by_entity[1]["payment_to_erp"]["max"] == 5.0


def test_backlog_counts_sources_waiting_at_each_step():
    trace = trace_frame(
        [
            *run_rows(0.0, 100.0),
            *invoice_rows("in_1", finalized_t_s=10.0, erp_t_s=30.0),
            *invoice_rows("in_2", finalized_t_s=20.0, erp_t_s=None),
            *payment_rows("ch_1", "in_1", succeeded_t_s=40.0, erp_t_s=60.0),
        ]
    )
    series = backlog_series(trace, step_s=10.0)
    assert series.columns == ["t_s", "invoices_waiting", "payments_waiting"]
    assert series["t_s"].to_list() == [float(t) for t in range(0, 101, 10)]
    assert series["invoices_waiting"].to_list() == [0, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1]
    assert series["payments_waiting"].to_list() == [0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
    assert series.schema["invoices_waiting"] == pl.Int64


def test_backlog_leaves_out_what_belongs_to_a_person_not_the_erp():
    """An invoice without tax (E13) and its payment go to the exception queue, rightly never to the
    ERP: they do not wait for it (they used to, until the cut-off, and made every recovery 'never')."""
    trace = trace_frame(
        [
            *run_rows(0.0, 100.0),
            *invoice_rows("in_1", finalized_t_s=10.0, erp_t_s=30.0),
            *invoice_rows("in_tax", finalized_t_s=10.0, erp_t_s=None),
            {"t_s": 100.0, "kind": "oracle.exception", "object_id": "in_tax", "code": "tax_incomplete"},
            *payment_rows("ch_tax", "in_tax", succeeded_t_s=40.0, erp_t_s=None),
        ]
    )
    series = backlog_series(trace, step_s=10.0)
    assert series["invoices_waiting"].to_list() == [0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert series["payments_waiting"].to_list() == [0] * 11


def test_backlog_rejects_a_non_positive_step():
    with pytest.raises(ValueError, match="step_s"):
        backlog_series(trace_frame(run_rows(0.0, 1.0)), step_s=0.0)


def _two_invoices_and_a_payment() -> pl.DataFrame:
    return trace_frame(
        [
            *run_rows(0.0, 100.0),
            *invoice_rows("in_1", finalized_t_s=10.0, erp_t_s=30.0),
            *invoice_rows("in_2", finalized_t_s=20.0, erp_t_s=None),
            *payment_rows("ch_1", "in_1", succeeded_t_s=40.0, erp_t_s=60.0),
        ]
    )


def test_backlog_series_samples_a_stretch_clipped_to_the_run():
    trace = _two_invoices_and_a_payment()
    stretch = backlog_series(trace, step_s=10.0, from_t_s=20.0, to_t_s=50.0)
    assert stretch["t_s"].to_list() == [20.0, 30.0, 40.0, 50.0]
    assert stretch["invoices_waiting"].to_list() == [2, 1, 1, 1]
    assert stretch["payments_waiting"].to_list() == [0, 0, 1, 1]
    clipped = backlog_series(trace, step_s=10.0, from_t_s=-50.0, to_t_s=500.0)
    assert clipped.equals(backlog_series(trace, step_s=10.0))


def test_the_peak_span_runs_to_the_cut_off_while_enough_sources_still_wait():
    # in_2 never reaches the ERP: one invoice waits from t=20 until the cut-off
    assert backlog_peak_span(_two_invoices_and_a_payment()) == (10.0, 100.0)


def test_the_peak_span_finds_a_short_peak_in_a_long_run_and_leaves_out_other_bumps():
    records = [*run_rows(0.0, 100_000.0), *invoice_rows("in_early", finalized_t_s=1_000.0, erp_t_s=1_001.0)]
    # 300 invoices at t=50,000 reach the ERP one a second: under 1% of 300 (3) waits from 50,298
    records += [row for number in range(1, 301)
                for row in invoice_rows(f"in_{number:03d}", finalized_t_s=50_000.0, erp_t_s=50_000.0 + number)]
    # a later bump of 50 payments, well above 1% of the peak but after the peak had drained
    records += [row for number in range(50)
                for row in payment_rows(f"ch_{number:02d}", f"in_{number + 1:03d}", succeeded_t_s=80_000.0,
                                        erp_t_s=80_100.0)]
    trace = trace_frame(records)
    assert backlog_peak_span(trace) == (50_000.0, 50_298.0)
    assert backlog_peak_span(trace, share=0.5) == (50_000.0, 50_151.0)  # 150 wait from then on


def test_the_peak_span_is_none_when_nothing_waited():
    assert backlog_peak_span(trace_frame(run_rows(0.0, 100.0))) is None
