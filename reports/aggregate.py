"""Many runs -> one table: each compared metric's distribution over seeds, per arm.

An arm is one way of running the scenario (a sync pattern, or a variant with some ``--set``
overrides); a sweep or a comparison runs every arm over the same seeds. `COMPARED_METRICS` names
the numeric metrics that matter to someone choosing between patterns, by their path in
``metrics.json`` (two are derived from the per-window recovery list). A metric that has no value in
a run (a latency without samples, the time to converge of a run that did not converge) is left out
of that metric's statistics, and ``n`` says how many runs had one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from rehearse.reports.gates import metric_value

__all__ = ["COMPARED_METRICS", "ComparedMetric", "arm_statistics", "compared_values", "distribution"]

STAT_DECIMALS = 6


class ComparedMetric(NamedTuple):
    """A metric compared across arms: its path, a label, and which direction is better."""

    path: str
    label: str
    better: str  # "higher", "lower" or "" (neither: a count to read, not to rank)


COMPARED_METRICS: tuple[ComparedMetric, ...] = (
    ComparedMetric("passed", "runs whose gates all passed (share)", "higher"),
    ComparedMetric("reconciliation.accuracy", "accuracy (matched / expected amount, worst group)", "higher"),
    ComparedMetric("reconciliation.missing", "missing in the ERP (invoices + payments)", "lower"),
    ComparedMetric("reconciliation.duplicated", "duplicated in the ERP", "lower"),
    ComparedMetric("reconciliation.mismatched", "mismatched", "lower"),
    ComparedMetric("safety.violations", "invariant violations while faults were on", "lower"),
    ComparedMetric("latency_s.invoice_to_erp.p50", "invoice to ERP p50, s", "lower"),
    ComparedMetric("latency_s.invoice_to_erp.p95", "invoice to ERP p95, s", "lower"),
    ComparedMetric("latency_s.invoice_to_erp.p99", "invoice to ERP p99, s", "lower"),
    ComparedMetric("latency_s.payment_to_erp.p50", "payment to ERP p50, s", "lower"),
    ComparedMetric("latency_s.payment_to_erp.p95", "payment to ERP p95, s", "lower"),
    ComparedMetric("latency_s.payment_to_erp.p99", "payment to ERP p99, s", "lower"),
    ComparedMetric("resilience.failed_posting_rate", "failed posting rate", "lower"),
    ComparedMetric("resilience.retries", "retries", "lower"),
    ComparedMetric("resilience.exceptions_open", "exceptions open at the cut-off", "lower"),
    ComparedMetric("resilience.erp_backlog_peak", "most sources waiting for the ERP at once", "lower"),
    ComparedMetric("resilience.erp_backlog_peak_s", "time to clear the backlog's peak, s", "lower"),
    ComparedMetric("resilience.erp_calls", "ERP calls", "lower"),
    ComparedMetric("resilience.erp_calls_per_posting", "ERP calls per posting", "lower"),
    ComparedMetric("resilience.erp_concurrency_peak", "peak ERP calls in flight", "lower"),
    ComparedMetric("resilience.erp_concurrency_rejections", "ERP concurrency rejections (429)", "lower"),
    ComparedMetric("liveness.converged", "converged after healing (share)", "higher"),
    ComparedMetric("liveness.time_to_converge_s", "time to converge after healing, s", "lower"),
    ComparedMetric("recovery_s_max", "slowest recovery after a fault window, s", "lower"),
    ComparedMetric("windows_unrecovered", "fault windows not recovered by the cut-off", "lower"),
)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def compared_values(metrics: Mapping) -> dict[str, float | None]:
    """The `COMPARED_METRICS` of one run's metrics, as floats (None where the run has no value).

    ``recovery_s_max`` is the longest ``recovery_s`` over the run's fault windows (None without
    windows, or when none recovered); ``windows_unrecovered`` counts windows whose backlog never
    got back to its level at the window's start.
    """
    recovery = metrics.get("recovery", [])
    recovered = [row["recovery_s"] for row in recovery if row["recovery_s"] is not None]
    derived = {
        "recovery_s_max": max(recovered) if recovered else None,
        "windows_unrecovered": sum(row["recovery_s"] is None for row in recovery),
    }
    values = {}
    for metric in COMPARED_METRICS:
        if metric.path in derived:
            values[metric.path] = _number(derived[metric.path])
            continue
        try:
            values[metric.path] = _number(metric_value(metrics, metric.path))
        except KeyError:
            values[metric.path] = None
    return values


def distribution(values: Iterable[float | None]) -> dict:
    """``n``, ``mean``, ``std`` (population), ``min``, ``p50`` (nearest rank, lower), ``max`` of the
    values that are not None; the statistics are None when there are none."""
    present = sorted(value for value in values if value is not None)
    if not present:
        return {"n": 0, "mean": None, "std": None, "min": None, "p50": None, "max": None}
    count = len(present)
    mean = math.fsum(present) / count
    variance = math.fsum((value - mean) ** 2 for value in present) / count
    return {
        "n": count,
        "mean": round(mean, STAT_DECIMALS),
        "std": round(math.sqrt(variance), STAT_DECIMALS),
        "min": present[0],
        "p50": present[(count - 1) // 2],
        "max": present[-1],
    }


def arm_statistics(runs: Sequence[Mapping]) -> dict[str, dict]:
    """Each compared metric's `distribution` over the given runs' metrics (runs that raised are
    not in ``runs``)."""
    per_run = [compared_values(metrics) for metrics in runs]
    return {metric.path: distribution(values[metric.path] for values in per_run) for metric in COMPARED_METRICS}
