"""Trace -> metrics: one JSON-serialisable dict that the report, the gates and comparisons read.

The dict is stable: lists are sorted, floats are rounded to `FLOAT_DECIMALS`, and nothing in it
depends on the wall clock, so the same trace gives the same ``metrics.json`` byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, overload

import polars as pl

from rehearse.reports.faults import fault_table, fault_windows, recovery_table
from rehearse.reports.frame import KindFrames
from rehearse.reports.gates import evaluate_gates
from rehearse.reports.invariants import check_invariants
from rehearse.reports.latency import backlog_series, latency_samples, latency_stats
from rehearse.reports.phases import phase_metrics
from rehearse.reports.reconcile import (
    accuracy_by_group, invoice_table, payment_table, reversal_table, summarise,
)
from rehearse.reports.resilience import resilience_metrics

__all__ = ["FLOAT_DECIMALS", "compute_metrics"]

FLOAT_DECIMALS = (
    6  # micro-units: finer than any rate or second we report, coarse enough to be stable
)
SUMMED_OUTCOMES = ("missing", "duplicated", "mismatched", "orphaned")


@overload
def _normalise(value: Mapping[Any, Any]) -> dict[str, Any]: ...
@overload
def _normalise(value: list[Any] | tuple[Any, ...]) -> list[Any]: ...
@overload
def _normalise(value: object) -> object: ...
def _normalise(value: object) -> object:
    """Plain Python values only, floats rounded; mappings keep their (deliberate) key order."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return round(value, FLOAT_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Mapping):
        return {str(key): _normalise(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(item) for item in value]
    raise TypeError(f"not a metric value: {value!r} ({type(value).__name__})")


def _reconciliation(frames: KindFrames) -> dict:
    invoices = invoice_table(frames)
    payments = payment_table(frames)
    reversals = reversal_table(frames)
    invoice_counts, payment_counts = summarise(invoices), summarise(payments)
    reversal_counts = summarise(reversals)
    groups = accuracy_by_group({"invoices": invoices, "payments": payments, "reversals": reversals})
    invariants = check_invariants(frames, invoices)
    expected = frames.get("oracle.exception").select("object_id", "code").unique()
    raised = frames.get("engine.exception_opened").select(pl.col("ref_id").alias("object_id"), "code").unique()
    raised_count = expected.join(raised, on=["object_id", "code"], how="semi").height
    return {
        "invoices": invoice_counts,
        "payments": payment_counts,
        "reversals": reversal_counts,  # returned bank debits: each payment taken back in the ERP
        **{name: invoice_counts[name] + payment_counts[name] + reversal_counts[name] for name in SUMMED_OUTCOMES},
        "in_flight": invoice_counts["in_flight"],
        "accuracy": min((group["accuracy"] for group in groups), default=1.0),
        "accuracy_by_group": groups,
        "invariants": invariants,
        "invariants_failed": sum(not invariant["holds"] for invariant in invariants),
        # Sources whose right outcome is an exception for a person (E13), and how many were raised.
        "exceptions_expected": expected.height,
        "exceptions_unraised": expected.height - raised_count,
    }


RECOVERY_STEP_S = 60.0  # backlog sampling for recovery times: a minute of virtual time


def _recovery(frames: KindFrames) -> list[dict]:
    windows = fault_windows(frames)
    if windows.height == 0:
        return []
    return recovery_table(windows, backlog_series(frames, RECOVERY_STEP_S))


def compute_metrics(
    trace: pl.DataFrame | pl.LazyFrame,
    *,
    scenario: str,
    seed: int,
    pattern: str,
    gates: Mapping[str, float],
) -> dict:
    """Compute every metric of a run from its trace, and evaluate the scenario's gates.

    Parameters
    ----------
    trace
        The run's trace (columns of `rehearse.sync.trace.COLUMNS`), whole or lazy (a lazy trace is
        read once and never held whole).
    scenario, seed, pattern
        Copied into the result, to name the run.
    gates
        Gate name -> limit (see `rehearse.reports.gates.GATES`).

    Returns
    -------
    dict
        ``scenario``, ``seed``, ``pattern``, ``passed`` (every gate passed), ``gates``,
        ``cutoff_t_s``, ``rows``, ``reconciliation`` (``invoices``, ``payments``, their summed
        ``missing``/``duplicated``/``mismatched``/``orphaned``, ``in_flight`` invoices, ``accuracy``
        (the minimum over ``accuracy_by_group``), ``invariants``, ``invariants_failed``),
        ``safety`` and ``liveness`` (see `rehearse.reports.phases`),
        ``latency_s`` (``invoice_to_erp``, ``payment_to_erp``, ``by_entity``), ``resilience``,
        ``faults`` (per injected fault kind, see `rehearse.reports.faults`), ``recovery`` (per
        fault window, the time the backlog took to get back to its level at the window's start) and
        ``counts`` (rows per kind). See `rehearse.reports.reconcile`, `.invariants`, `.latency` and
        `.resilience` for each definition.

    Raises
    ------
    ValueError
        When ``gates`` names an unknown gate.
    """
    frames = KindFrames(trace)
    reconciliation = _reconciliation(frames)
    body = _normalise(
        {
            "cutoff_t_s": frames.cutoff_t_s,
            "rows": frames.row_count,
            "reconciliation": reconciliation,
            **phase_metrics(frames, reconciliation["missing"]),
            "latency_s": latency_stats(latency_samples(frames)),
            "resilience": resilience_metrics(frames),
            "faults": fault_table(frames),
            "recovery": _recovery(frames),
            "counts": frames.counts.to_dicts(),
        }
    )
    gate_results = _normalise(evaluate_gates(body, gates))
    return {
        "scenario": scenario,
        "seed": seed,
        "pattern": pattern,
        "passed": all(gate["passed"] for gate in gate_results),
        "gates": gate_results,
        **body,
    }
