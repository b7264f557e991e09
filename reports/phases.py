"""Safety and liveness: what happened while faults were on, and how the run converged after.

A run's safety phase is its traffic window, faults on; invariants that must always hold are
checked as it goes (``safety.violation`` rows). At ``run.healed`` faults stop and the liveness phase
begins: the engine must converge (nothing left it can progress, nothing missing) before the drain
limit. These metrics summarise both.
"""

from __future__ import annotations

import polars as pl

from rehearse.reports.frame import KindFrames

__all__ = ["phase_metrics"]


def phase_metrics(frames: KindFrames, missing: int) -> dict:
    """Safety and liveness metrics of a run.

    Parameters
    ----------
    frames
        The trace split by kind.
    missing
        Invoices and payments missing in the ERP at the cut-off (from the reconciliation).

    Returns
    -------
    dict
        ``safety``: ``violations`` (count), ``by_invariant`` (``{id, count}`` sorted by id) and
        ``first_violation`` (``{id, t_s, object_id, detail}`` or None).
        ``liveness``: ``healed_t_s`` (None when the trace has no ``run.healed``), ``drained``
        (the engine ran out of work before the drain limit), ``converged`` (1 when drained with
        nothing missing, else 0: a number, so that a gate can hold it), ``time_to_converge_s``
        (cut-off minus healed, None when it did not converge).
    """
    violations = frames.get("safety.violation").sort("t_s", "row_nr")
    first = None
    if violations.height:
        row = violations.row(0, named=True)
        first = {"id": row["code"], "t_s": row["t_s"], "object_id": row["object_id"], "detail": row["detail"]}
    by_invariant = (
        violations.group_by("code").agg(pl.len().alias("count")).sort("code").rename({"code": "id"})
    )
    healed = frames.get("run.healed")
    ended = frames.get("run.end")
    healed_t_s = float(healed["t_s"][0]) if healed.height else None
    drained = bool(ended.height) and ended["code"][-1] == "drained"
    converged = drained and missing == 0
    return {
        "safety": {
            "violations": violations.height,
            "by_invariant": by_invariant.to_dicts(),
            "first_violation": first,
        },
        "liveness": {
            "healed_t_s": healed_t_s,
            "drained": drained,
            "converged": int(converged),
            "time_to_converge_s": (frames.cutoff_t_s - healed_t_s) if converged and healed_t_s is not None else None,
        },
    }
