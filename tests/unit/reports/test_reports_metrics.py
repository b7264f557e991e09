"""The metrics dict as a whole: shape, stability, serialisation, the public API."""

from __future__ import annotations

import json

import polars as pl

import rehearse.reports
from rehearse.reports import compute_metrics, trace_frame
from rehearse.reports.testing import invoice_rows, payment_rows, run_rows


def sample_trace() -> pl.DataFrame:
    return trace_frame(
        [
            *run_rows(0.0, 50_000.0),
            *invoice_rows("in_1", expected_state="paid", erp_t_s=1_060.0 + 1 / 3),
            *payment_rows("ch_1", "in_1"),
            *invoice_rows("in_2", erp_copies=2, currency="EUR"),
            {"t_s": 5.0, "kind": "webhook.delivered", "object_id": "ev_1", "ref_id": "in_1"},
        ]
    )


def compute(trace: pl.DataFrame) -> dict:
    return compute_metrics(
        trace, scenario="s", seed=7, pattern="event", gates={"duplicated_max": 0}
    )


def test_the_public_api_is_pinned():
    assert rehearse.reports.__all__ == [
        "GATES",
        "GateSpec",
        "backlog_series",
        "compute_metrics",
        "evaluate_gates",
        "trace_frame",
        "unknown_gates",
        "write_report",
    ]


def test_top_level_keys_and_run_identity():
    metrics = compute(sample_trace())
    assert list(metrics) == [
        "scenario",
        "seed",
        "pattern",
        "passed",
        "gates",
        "cutoff_t_s",
        "rows",
        "reconciliation",
        "safety",
        "liveness",
        "latency_s",
        "resilience",
        "faults",
        "recovery",
        "counts",
    ]
    assert (metrics["scenario"], metrics["seed"], metrics["pattern"]) == ("s", 7, "event")
    assert metrics["passed"] is False  # in_2 is duplicated
    assert metrics["cutoff_t_s"] == 50_000.0
    assert metrics["rows"] == sample_trace().height


def test_metrics_survive_a_json_round_trip_and_floats_are_rounded():
    metrics = compute(sample_trace())
    assert json.loads(json.dumps(metrics, allow_nan=False)) == metrics
    assert metrics["latency_s"]["invoice_to_erp"]["max"] == 60.333333


def test_same_trace_same_metrics_even_with_rows_in_another_physical_layout():
    trace = sample_trace()
    rechunked = pl.concat([trace.head(5), trace.tail(trace.height - 5)], rechunk=False)
    assert json.dumps(compute(trace)) == json.dumps(compute(rechunked))


def test_a_lazy_trace_gives_the_same_metrics_as_the_frame(tmp_path):
    trace = sample_trace()
    trace.head(6).write_parquet(tmp_path / "a.parquet")
    trace.tail(trace.height - 6).write_parquet(tmp_path / "b.parquet")
    lazy = pl.scan_parquet([tmp_path / "a.parquet", tmp_path / "b.parquet"])
    assert json.dumps(compute(lazy)) == json.dumps(compute(trace))


def test_a_lazy_trace_without_run_rows_takes_its_bounds_from_t_s():
    trace = sample_trace().filter(~pl.col("kind").is_in(["run.start", "run.end"]))
    assert json.dumps(compute(trace.lazy())) == json.dumps(compute(trace))
    assert compute(trace.lazy())["cutoff_t_s"] == trace["t_s"].max()


def test_counts_are_rows_per_kind_sorted():
    counts = compute(sample_trace())["counts"]
    kinds = [row["kind"] for row in counts]
    assert kinds == sorted(kinds)
    assert {"kind": "erp.document", "count": 4} in counts
    assert {"kind": "webhook.delivered", "count": 1} in counts


def test_missing_columns_are_filled_with_their_empty_value():
    trace = sample_trace().drop("debit_minor", "credit_minor", "value")
    metrics = compute(trace)
    assert metrics["reconciliation"]["invoices"]["expected"] == 2
    assert json.dumps(compute(trace.lazy())) == json.dumps(metrics)
