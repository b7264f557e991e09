"""Gates: limits on metrics that turn a report into a pass or a fail (and CI's exit code).

A gate is named ``<metric>_min`` or ``<metric>_max`` and reads one metric by its path in the metrics
dict. A scenario file sets limits by gate name; only the gates it names are evaluated. A metric that
is null (a latency percentile with no samples) passes its gate: there is nothing to be late.

Examples
--------
>>> metrics = {"reconciliation": {"accuracy": 0.99}}
>>> evaluate_gates(metrics, {"accuracy_min": 0.995})
[{'name': 'accuracy_min', 'value': 0.99, 'limit': 0.995, 'passed': False}]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, NamedTuple, cast

__all__ = ["GATES", "GateSpec", "evaluate_gates", "metric_value", "unknown_gates"]


class GateSpec(NamedTuple):
    """What a gate checks.

    Attributes
    ----------
    metric_path
        Dotted path of the metric in the metrics dict, e.g. ``"reconciliation.accuracy"``.
    direction
        ``"min"``: the metric must be >= the limit; ``"max"``: <= the limit.
    description
        One line for the report.
    null_passes
        Whether a null value passes: true where null means there was nothing to measure (no
        invoice, no latency), false where it means the goal was never reached.
    """

    metric_path: str
    direction: Literal["min", "max"]
    description: str
    null_passes: bool = True


GATES: dict[str, GateSpec] = {
    "accuracy_min": GateSpec(
        "reconciliation.accuracy",
        "min",
        "lowest matched / expected amount over (entity, currency) groups",
    ),
    "missing_max": GateSpec(
        "reconciliation.missing", "max", "invoices and payments missing in the ERP"
    ),
    "duplicated_max": GateSpec(
        "reconciliation.duplicated", "max", "invoices and payments with more than one ERP document"
    ),
    "mismatched_max": GateSpec(
        "reconciliation.mismatched", "max", "invoices and payments whose ERP document differs"
    ),
    "orphaned_max": GateSpec(
        "reconciliation.orphaned", "max", "ERP invoices and payments without a source"
    ),
    "invariants_failed_max": GateSpec(
        "reconciliation.invariants_failed", "max", "invariants that do not hold at the cut-off"
    ),
    "invoice_to_erp_p95_s_max": GateSpec(
        "latency_s.invoice_to_erp.p95", "max", "95th percentile invoice-to-ERP latency, seconds"
    ),
    "invoice_to_erp_p99_s_max": GateSpec(
        "latency_s.invoice_to_erp.p99", "max", "99th percentile invoice-to-ERP latency, seconds"
    ),
    "payment_to_erp_p95_s_max": GateSpec(
        "latency_s.payment_to_erp.p95", "max", "95th percentile payment-to-ERP latency, seconds"
    ),
    "payment_to_erp_p99_s_max": GateSpec(
        "latency_s.payment_to_erp.p99", "max", "99th percentile payment-to-ERP latency, seconds"
    ),
    "failed_posting_rate_max": GateSpec(
        "resilience.failed_posting_rate", "max", "postings that ended in the exception queue"
    ),
    "exceptions_open_max": GateSpec(
        "resilience.exceptions_open", "max", "exceptions still open at the cut-off"
    ),
    "erp_calls_per_posting_max": GateSpec(
        "resilience.erp_calls_per_posting", "max", "ERP calls per posting (the cost of retries)"
    ),
    "erp_concurrency_peak_max": GateSpec(
        "resilience.erp_concurrency_peak", "max", "the most ERP calls in flight at once (the load put on the ERP)"
    ),
    "duplicate_creates_max": GateSpec(
        "resilience.duplicate_creates", "max", "creates the ERP already had (answered DUP_RCRD)"
    ),
    "missing_references_max": GateSpec(
        "resilience.missing_references", "max", "posts before their parent (INVALID_KEY_OR_REF)"
    ),
    "safety_violations_max": GateSpec(
        "safety.violations", "max", "invariant violations seen while the run went (I4, I12, I13, I14)"
    ),
    "converged_min": GateSpec(
        "liveness.converged", "min", "1 when the engine converged after faults healed, with nothing missing"
    ),
    "time_to_converge_s_max": GateSpec(
        "liveness.time_to_converge_s", "max", "seconds from faults healed to converged (null: it never did)",
        null_passes=False,
    ),
    "exceptions_unraised_max": GateSpec(
        "reconciliation.exceptions_unraised", "max",
        "sources that must reach a person (e.g. invoices without tax) but raised no exception"
    ),
    "unapplied_cash_share_max": GateSpec(
        "resilience.unapplied_cash_share", "max",
        "share of payment amounts left unapplied in the ERP (the worst currency)"
    ),
    "late_postings_max": GateSpec(
        "resilience.late_postings", "max", "postings routed out of a closed period"
    ),
}


def unknown_gates(names: Iterable[str]) -> list[str]:
    """Return the names that are not gates, sorted (empty when all are known).

    Parameters
    ----------
    names
        Gate names, e.g. the keys of a scenario's ``[gates]`` table.

    Returns
    -------
    list of str
    """
    return sorted(set(names) - set(GATES))


def metric_value(metrics: Mapping, metric_path: str) -> object:
    """Return the value at a dotted path of the metrics dict.

    Raises
    ------
    KeyError
        When a step of the path is absent.
    """
    value: object = metrics
    for step in metric_path.split("."):
        if not isinstance(value, Mapping) or step not in value:
            raise KeyError(f"metric {metric_path!r} not found (at {step!r})")
        value = value[step]
    return value


def evaluate_gates(metrics: Mapping, limits: Mapping[str, float]) -> list[dict]:
    """Evaluate the given gates against computed metrics.

    Parameters
    ----------
    metrics
        Metrics as built by `rehearse.reports.compute_metrics` (only the gated paths are read).
    limits
        Gate name -> limit.

    Returns
    -------
    list of dict
        ``{name, value, limit, passed}`` per gate, sorted by name. A null value passes unless
        the gate says otherwise (`GateSpec.null_passes`).

    Raises
    ------
    ValueError
        When a limit names an unknown gate.
    """
    unknown = unknown_gates(limits)
    if unknown:
        raise ValueError(f"unknown gates: {', '.join(unknown)}; known: {', '.join(sorted(GATES))}")
    results = []
    for name in sorted(limits):
        spec, limit = GATES[name], limits[name]
        value = cast(float | None, metric_value(metrics, spec.metric_path))  # every gated metric is a number
        if value is None:
            passed = spec.null_passes
        elif spec.direction == "min":
            passed = value >= limit
        else:
            passed = value <= limit
        results.append({"name": name, "value": value, "limit": limit, "passed": bool(passed)})
    return results
