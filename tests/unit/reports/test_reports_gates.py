"""Gates: registry, evaluation, null latency, unknown names."""

from __future__ import annotations

import pytest

from rehearse.reports import GATES, compute_metrics, evaluate_gates, trace_frame, unknown_gates
from rehearse.reports.gates import metric_value
from rehearse.reports.testing import invoice_rows, run_rows

GATE_NAMES = sorted([
    "accuracy_min",
    "duplicate_creates_max",
    "duplicated_max",
    "erp_calls_per_posting_max",
    "erp_concurrency_peak_max",
    "exceptions_open_max",
    "failed_posting_rate_max",
    "invariants_failed_max",
    "invoice_to_erp_p95_s_max",
    "invoice_to_erp_p99_s_max",
    "late_postings_max",
    "mismatched_max",
    "missing_max",
    "missing_references_max",
    "orphaned_max",
    "payment_to_erp_p95_s_max",
    "payment_to_erp_p99_s_max",
    "safety_violations_max",
    "converged_min",
    "time_to_converge_s_max",
    "exceptions_unraised_max",
    "unapplied_cash_share_max",
])


def metrics_of(records: list[dict], gates: dict[str, float]) -> dict:
    trace = trace_frame([*run_rows(0.0, 10_000.0), *records])
    return compute_metrics(trace, scenario="t", seed=1, pattern="p", gates=gates)


def test_the_registry_names_every_gate_and_each_ends_in_its_direction():
    assert sorted(GATES) == GATE_NAMES
    for name, spec in GATES.items():
        assert name.endswith(f"_{spec.direction}")


def test_every_gate_reads_a_metric_that_compute_metrics_produces():
    metrics = metrics_of([], {})
    for spec in GATES.values():
        metric_value(metrics, spec.metric_path)  # raises KeyError when absent


def test_gates_are_evaluated_in_name_order_and_decide_passed():
    records = [*invoice_rows("in_1", erp_t_s=1_100.0), *invoice_rows("in_2", erp_t_s=None)]
    metrics = metrics_of(
        records, {"missing_max": 0, "accuracy_min": 0.4, "invoice_to_erp_p95_s_max": 100}
    )
    assert metrics["gates"] == [
        {"name": "accuracy_min", "value": 0.5, "limit": 0.4, "passed": True},
        {"name": "invoice_to_erp_p95_s_max", "value": 100.0, "limit": 100, "passed": True},
        {"name": "missing_max", "value": 1, "limit": 0, "passed": False},
    ]
    assert metrics["passed"] is False


def test_min_and_max_limits_are_inclusive():
    metrics = {"reconciliation": {"accuracy": 0.99, "missing": 3}}
    results = evaluate_gates(metrics, {"accuracy_min": 0.99, "missing_max": 3})
    assert [r["passed"] for r in results] == [True, True]
    results = evaluate_gates(metrics, {"accuracy_min": 0.991, "missing_max": 2})
    assert [r["passed"] for r in results] == [False, False]


def test_a_latency_gate_without_samples_passes():
    metrics = metrics_of([], {"payment_to_erp_p99_s_max": 0.0})
    assert metrics["gates"] == [
        {"name": "payment_to_erp_p99_s_max", "value": None, "limit": 0.0, "passed": True}
    ]
    assert metrics["passed"] is True


def test_no_gates_pass():
    assert metrics_of([], {})["passed"] is True


def test_unknown_gates_are_listed_and_rejected():
    assert unknown_gates(["missing_max", "speed_max", "accuracy_mn"]) == [
        "accuracy_mn",
        "speed_max",
    ]
    assert unknown_gates(GATES) == []
    with pytest.raises(ValueError, match="unknown gates: speed_max"):
        evaluate_gates({}, {"speed_max": 1.0})
