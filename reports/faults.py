"""The per-fault table: what each fault kind hit, and whether what it hit got through in the end."""

from __future__ import annotations

import polars as pl

from rehearse.reports.frame import KindFrames

__all__ = ["fault_table"]


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
        had to post); ``recovered`` (of those, ids posted in the end); ``first_t_s``, ``last_t_s``.
    """
    injected = frames.get("fault.injected")
    if injected.height == 0:
        return []
    queued = frames.get("engine.queued").select(pl.col("object_id").unique(), pl.lit(True).alias("postable"))
    posted = frames.get("engine.posted").select(pl.col("object_id").unique(), pl.lit(True).alias("posted"))
    hits = (
        injected.join(queued, on="object_id", how="left")
        .join(posted, on="object_id", how="left")
        .with_columns(pl.col("postable").fill_null(False), pl.col("posted").fill_null(False))
    )
    table = (
        hits.group_by("code")
        .agg(
            pl.len().alias("injected"),
            pl.col("object_id").n_unique().alias("affected"),
            pl.col("object_id").filter(pl.col("postable")).n_unique().alias("affected_postings"),
            pl.col("object_id").filter(pl.col("postable") & pl.col("posted")).n_unique().alias("recovered"),
            pl.col("t_s").min().alias("first_t_s"),
            pl.col("t_s").max().alias("last_t_s"),
        )
        .rename({"code": "kind"})
        .sort("kind")
    )
    return table.to_dicts()
