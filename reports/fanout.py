"""Many runs -> one document: what `rehearse compare` and `rehearse sweep` write as JSON.

A run record (one per arm and seed, made by `rehearse.sim.fanout`) holds ``arm``, ``seed``,
``metrics`` (None when the run raised), ``error``, ``replay`` (the `rehearse run` command that
replays it) and ``swarm_faults`` (the faults a swarm drew for it, or None). The document is a pure
function of the records and contains nothing from the wall clock, so the same runs give the same
document whichever executor ran them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rehearse.reports.aggregate import COMPARED_METRICS, arm_statistics, compared_values

__all__ = ["fanout_document"]


def _failed_gates(metrics: Mapping) -> list[str]:
    return [gate["name"] for gate in metrics["gates"] if not gate["passed"]]


def _run_row(record: Mapping) -> dict:
    metrics = record["metrics"]
    return {
        "arm": record["arm"],
        "seed": record["seed"],
        "passed": None if metrics is None else metrics["passed"],
        "failed_gates": [] if metrics is None else _failed_gates(metrics),
        "error": record["error"],
        "values": None if metrics is None else compared_values(metrics),
        "swarm_faults": record.get("swarm_faults"),
        "replay": record["replay"],
    }


def fanout_document(*, scenario: str, seeds: Sequence[int], overrides: Sequence[str],
                    arms: Sequence[tuple[str, Sequence[str]]], records: Sequence[Mapping],
                    swarm: bool = False) -> dict:
    """The JSON document of a comparison or sweep.

    Parameters
    ----------
    scenario
        The scenario's name.
    seeds
        The seeds every arm ran.
    overrides
        The ``--set`` overrides every arm shares.
    arms
        ``(name, overrides of this arm)`` in the order asked for.
    records
        One run record per arm and seed (any order).
    swarm
        Whether each seed drew its faults.

    Returns
    -------
    dict
        ``scenario``, ``seeds``, ``overrides``, ``swarm``, ``metrics`` (path, label, better),
        ``arms`` (``name``, ``overrides``, ``runs`` completed, ``passed`` runs, ``errors`` and
        ``statistics``: per compared metric ``{n, mean, std, min, p50, max}`` over the completed
        runs), ``runs`` (per arm and seed: ``passed``, ``failed_gates``, ``error``, ``values``,
        ``swarm_faults``, ``replay``; sorted by arm order, then seed) and ``failed`` (the runs
        whose gates failed or that raised, with the reason and the replay command).
    """
    order = {name: index for index, (name, _) in enumerate(arms)}
    rows = sorted((_run_row(record) for record in records), key=lambda row: (order[row["arm"]], row["seed"]))
    arm_rows = []
    for name, arm_overrides in arms:
        mine = [record for record in records if record["arm"] == name]
        completed = sorted((record for record in mine if record["metrics"] is not None), key=lambda r: r["seed"])
        arm_rows.append({
            "name": name,
            "overrides": list(arm_overrides),
            "runs": len(completed),
            "passed": sum(record["metrics"]["passed"] for record in completed),
            "errors": sorted(({"seed": record["seed"], "error": record["error"]}
                              for record in mine if record["metrics"] is None), key=lambda item: item["seed"]),
            "statistics": arm_statistics([record["metrics"] for record in completed]),
        })
    failed = [
        {"arm": row["arm"], "seed": row["seed"],
         "reason": f"error: {row['error']}" if row["error"] else "gates failed: " + ", ".join(row["failed_gates"]),
         "replay": row["replay"]}
        for row in rows if row["error"] or not row["passed"]
    ]
    return {
        "scenario": scenario,
        "seeds": list(seeds),
        "overrides": list(overrides),
        "swarm": swarm,
        "metrics": [metric._asdict() for metric in COMPARED_METRICS],
        "arms": arm_rows,
        "runs": rows,
        "failed": failed,
    }
