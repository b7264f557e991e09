"""The per-fault table: what each fault kind hit, and whether what it hit got through in the end."""

from __future__ import annotations

import numpy as np
import polars as pl

from rehearse.reports.frame import KindFrames

__all__ = ["fault_table", "fault_windows", "recovery_table"]


def fault_windows(frames: KindFrames) -> pl.DataFrame:
    """The run's fault windows: ``kind``, ``name``, ``start_t_s``, ``end_t_s``, in time order."""
    return (
        frames.get("fault.window")
        .select(pl.col("code").alias("kind"), pl.col("detail").alias("name"),
                pl.col("t_s").alias("start_t_s"), pl.col("value").alias("end_t_s"))
        .sort("start_t_s", "kind")
    )


def recovery_table(windows: pl.DataFrame, backlog: pl.DataFrame) -> list[dict]:
    """How long after each fault window the backlog took to get back to where it was when the
    window opened.

    Parameters
    ----------
    windows
        `fault_windows` output.
    backlog
        `rehearse.reports.latency.backlog_series` output (invoices and payments waiting).

    Returns
    -------
    list of dict
        Per window: ``kind``, ``start_t_s``, ``end_t_s``, ``backlog_at_start``, ``backlog_peak``
        and ``recovery_s`` (from the window's end to the first sample at or below the starting
        backlog; None when that never happened before the cut-off).
    """
    if windows.height == 0 or backlog.height == 0:
        return []
    # One pass of binary searches over the time-ordered samples instead of three filters a window:
    # a window recurring every minute over a three-day run has 4,320 occurrences.
    waiting = backlog.select("t_s", (pl.col("invoices_waiting") + pl.col("payments_waiting")).alias("waiting"))
    waiting = waiting.sort("t_s", maintain_order=True)
    t_s, count = waiting["t_s"].to_numpy(), waiting["waiting"].to_numpy()
    rows = []
    for window in windows.iter_rows(named=True):
        start_s, end_s = window["start_t_s"], window["end_t_s"]
        at_start = int(np.searchsorted(t_s, start_s, side="right")) - 1
        level = int(count[at_start]) if at_start >= 0 else 0
        during = count[np.searchsorted(t_s, start_s, side="left"):np.searchsorted(t_s, end_s, side="right")]
        peak = int(during.max()) if during.size else level
        after_end = int(np.searchsorted(t_s, end_s, side="left"))
        back = np.flatnonzero(count[after_end:] <= level)
        rows.append({
            "kind": window["kind"], "start_t_s": start_s, "end_t_s": end_s,
            "backlog_at_start": level, "backlog_peak": peak,
            "recovery_s": float(t_s[after_end + back[0]] - end_s) if back.size else None,
        })
    return rows


def fault_table(frames: KindFrames) -> list[dict]:
    """One row per injected fault kind, sorted by kind.

    Parameters
    ----------
    frames
        The trace split by kind.

    Returns
    -------
    list of dict
        ``kind``; ``injected`` (``fault.injected`` rows); ``affected`` (distinct ids it hit: ERP
        external ids, webhook objects, the engine); ``affected_postings`` (of those, ids the engine
        had to post and had not posted yet when the fault first hit them: a duplicate of an event
        whose document was in the ERP already put nothing at risk); ``recovered`` (of those, ids
        posted in the end); ``first_t_s``, ``last_t_s``.
    """
    injected = frames.get("fault.injected")
    if injected.height == 0:
        return []
    # Each distinct (kind, id) once before looking it up: a receiver down for days fails millions of
    # deliveries of a few hundred thousand objects, and joining every failed try cost 500 MB. The
    # streaming engine finds the distinct pairs in 50 MB where the in-memory one took 270 MB.
    queued = frames.get("engine.queued")["object_id"].unique()
    first_posted = (
        frames.get("engine.posted").group_by("object_id").agg(pl.col("t_s").min().alias("posted_t_s")).lazy()
    )
    at_risk = pl.col("object_id").is_in(queued.implode()) & ~(pl.col("posted_t_s") < pl.col("hit_t_s")).fill_null(False)
    hit_ids = (
        injected.lazy().group_by("code", "object_id").agg(pl.col("t_s").min().alias("hit_t_s"))
        .join(first_posted, on="object_id", how="left")
        .with_columns(at_risk.alias("postable"))
        .with_columns((pl.col("postable") & pl.col("posted_t_s").is_not_null()).alias("recovered"))
        .group_by("code")
        .agg(
            pl.len().alias("affected"),
            pl.col("postable").sum().alias("affected_postings"),
            pl.col("recovered").sum().alias("recovered"),
        )
        .collect(engine="streaming")
    )
    table = (
        injected.group_by("code")
        .agg(pl.len().alias("injected"), pl.col("t_s").min().alias("first_t_s"), pl.col("t_s").max().alias("last_t_s"))
        .join(hit_ids, on="code")
        .select("code", "injected", "affected", "affected_postings", "recovered", "first_t_s", "last_t_s")
        .rename({"code": "kind"})
        .sort("kind")
    )
    return table.to_dicts()
