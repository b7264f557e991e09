"""Latency from a commercial event to its ERP document, and the ERP backlog (DOMAIN.md 11).

- invoice-to-ERP: the first ERP invoice document's ``t_s`` minus the ``billing.invoice_finalized``
  ``t_s`` of the same invoice (joined on invoice id = the document's ``ref_id``);
- payment-to-ERP: the first ERP payment document's ``t_s`` minus the ``payments.charge_succeeded``
  ``t_s`` of the same charge.

A source that never reached the ERP has no sample (it shows up as missing in the reconciliation and
as waiting in the backlog).

Percentiles use the nearest-rank rule of polars' ``interpolation="nearest"``: over the sorted sample
``x[0..n-1]``, the q-quantile is ``x[round(q * (n - 1))]`` with halves rounded up. It always returns
a value that was observed, so it is exact and stable across platforms.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

from rehearse.reports.frame import KindFrames
from rehearse.reports.reconcile import erp_documents_per_source

__all__ = [
    "FLOWS",
    "backlog_peak_span",
    "backlog_series",
    "backlog_total_changes",
    "backlog_zoom",
    "latency_samples",
    "latency_stats",
    "level_changes",
]

# flow name -> (source kind, ERP document type)
FLOWS: dict[str, tuple[str, str]] = {
    "invoice_to_erp": ("billing.invoice_finalized", "invoice"),
    "payment_to_erp": ("payments.charge_succeeded", "payment"),
}
# Beside the whole run, a backlog plot shows its peak episode (where at least BACKLOG_MATERIAL_SHARE
# of the most sources ever waiting still wait) when that episode is shorter than ZOOM_BELOW_SHARE of
# the run: a month-end peak of minutes in a run of days is a spike one pixel wide on the whole run.
# The zoom adds ZOOM_PAD_SHARE of the episode's length, and at least ZOOM_PAD_S_MIN, on either side.
BACKLOG_MATERIAL_SHARE = 0.01
ZOOM_BELOW_SHARE = 0.25
ZOOM_PAD_SHARE = 0.25
ZOOM_PAD_S_MIN = 300.0
# flow -> its column in the backlog series
BACKLOG_COLUMNS = {"invoice_to_erp": "invoices_waiting", "payment_to_erp": "payments_waiting"}
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
QUANTILE_METHOD: Final = "nearest"  # Final: typed as the literal polars takes


def _source_and_erp_times(frames: KindFrames, flow: str) -> pl.DataFrame:
    """Per source id: ``source_t_s``, ``erp_t_s`` (null when not in the ERP) and ``entity``.

    Computed once per trace (the backlog plot needs it too).
    """
    source_kind, document_type = FLOWS[flow]

    def compute() -> pl.DataFrame:
        sources = (
            frames.get(source_kind)
            .group_by(source_id="object_id")
            .agg(
                pl.col("t_s").min().alias("source_t_s"),
                pl.col("entity").first().alias("source_entity"),  # rows are in trace order
            )
        )
        documents = erp_documents_per_source(frames, document_type).select(
            "source_id", pl.col("erp_first_t_s").alias("erp_t_s"), "erp_entity"
        )
        return sources.join(documents, on="source_id", how="left").select(
            "source_id",
            "source_t_s",
            "erp_t_s",
            pl.when(pl.col("source_entity") != "")
            .then(pl.col("source_entity"))
            .otherwise(pl.col("erp_entity").fill_null(""))
            .alias("entity"),
        )

    return frames.derived(f"source_and_erp_times:{flow}", compute)


def latency_samples(frames: KindFrames) -> pl.DataFrame:
    """Every latency sample of every flow.

    Parameters
    ----------
    frames
        The trace split by kind.

    Returns
    -------
    polars.DataFrame
        ``flow``, ``source_id``, ``entity`` (the source row's, else the ERP document's) and
        ``latency_s``, sorted by flow then source id.
    """
    parts = [
        _source_and_erp_times(frames, flow)
        .filter(pl.col("erp_t_s").is_not_null())
        .select(
            pl.lit(flow).alias("flow"),
            "source_id",
            "entity",
            (pl.col("erp_t_s") - pl.col("source_t_s")).alias("latency_s"),
        )
        for flow in FLOWS
    ]
    return pl.concat(parts).sort("flow", "source_id")


def _stats_exprs() -> list[pl.Expr]:
    latency = pl.col("latency_s")
    return [
        pl.len().alias("count"),
        *[latency.quantile(q, QUANTILE_METHOD).alias(name) for name, q in QUANTILES.items()],
        latency.max().alias("max"),
    ]


def _empty_stats() -> dict:
    return {"count": 0, **{name: None for name in QUANTILES}, "max": None}


def latency_stats(samples: pl.DataFrame) -> dict:
    """Summarise latency samples per flow, overall and per entity.

    Parameters
    ----------
    samples
        The result of `latency_samples`.

    Returns
    -------
    dict
        One ``{count, p50, p95, p99, max}`` per flow (values null when count is 0), and
        ``by_entity``: a list of ``{entity, <flow>: {...}, ...}`` sorted by entity.
    """
    overall = samples.group_by("flow").agg(_stats_exprs())
    result: dict = {flow: _empty_stats() for flow in FLOWS}
    for row in overall.to_dicts():
        result[row.pop("flow")] = row
    per_entity = samples.group_by("entity", "flow").agg(_stats_exprs()).sort("entity", "flow")
    by_entity: dict[str, dict] = {}
    for row in per_entity.to_dicts():  # one row per (entity, flow): a handful
        entity, flow = row.pop("entity"), row.pop("flow")
        by_entity.setdefault(entity, {flow_name: _empty_stats() for flow_name in FLOWS})[flow] = row
    result["by_entity"] = [{"entity": entity, **stats} for entity, stats in by_entity.items()]
    return result


def backlog_series(
    trace_or_frames: pl.DataFrame | KindFrames,
    step_s: float,
    *,
    from_t_s: float | None = None,
    to_t_s: float | None = None,
) -> pl.DataFrame:
    """Sources waiting for their ERP document, sampled every ``step_s`` from the run's start.

    An invoice waits from its ``billing.invoice_finalized`` until its first ERP invoice document
    (forever if there is none); a charge from ``payments.charge_succeeded`` until its first ERP
    payment. The count at a sample time ``t`` includes every change at or before ``t``.

    Parameters
    ----------
    trace_or_frames
        A trace frame, or the trace already split by kind.
    step_s
        Seconds between samples (> 0). Samples run from the start (first ``run.start``, else the
        smallest set ``t_s``) to the cut-off inclusive.
    from_t_s, to_t_s
        Sample this stretch instead of the whole run (each clipped to the run).

    Returns
    -------
    polars.DataFrame
        ``t_s`` (Float64), ``invoices_waiting`` and ``payments_waiting`` (Int64).
    """
    if step_s <= 0:
        raise ValueError(f"step_s must be > 0, got {step_s}")
    frames = _frames(trace_or_frames)
    start_t_s, cutoff_t_s = frames.start_t_s, max(frames.cutoff_t_s, frames.start_t_s)
    if from_t_s is not None:
        start_t_s = min(max(from_t_s, start_t_s), cutoff_t_s)
    if to_t_s is not None:
        cutoff_t_s = max(min(to_t_s, cutoff_t_s), start_t_s)
    steps = int((cutoff_t_s - start_t_s) // step_s) + 1
    series = pl.DataFrame(
        {"t_s": pl.arange(0, steps, eager=True).cast(pl.Float64) * step_s + start_t_s}
    )
    for column, changes in _backlog_changes(frames).items():
        series = series.join_asof(changes, on="t_s", strategy="backward").with_columns(
            pl.col(column).fill_null(0)
        )
    return series


def backlog_peak_span(
    trace_or_frames: pl.DataFrame | KindFrames, share: float = BACKLOG_MATERIAL_SHARE
) -> tuple[float, float] | None:
    """The backlog's peak episode: around the moment most sources wait (invoices and payments
    together), the stretch in which at least ``share`` of that many (and at least one) wait
    without a break, to the cut-off if it never falls below; None when nothing ever waited.

    Computed from every change, not from samples, so a peak of minutes in a month is found.

    Examples
    --------
    A month-end peak: in a run that starts a day before the 1st and lasts three days, the
    episode is the minutes after midnight on the 1st; a later, smaller bump (retries a day on)
    is outside it.
    """
    frames = _frames(trace_or_frames)
    changes = backlog_total_changes(frames)
    if changes.is_empty():
        return None
    levels, times = changes["erp_backlog"].to_numpy(), changes["t_s"].to_numpy()
    peak = int(levels.argmax())
    if levels[peak] <= 0:
        return None
    below = levels < max(1.0, share * levels[peak])
    before = np.flatnonzero(below[:peak])
    after = np.flatnonzero(below[peak + 1:])
    start_t_s = float(times[before[-1] + 1]) if before.size else float(times[0])
    end_t_s = float(times[peak + 1 + after[0]]) if after.size else max(frames.cutoff_t_s, frames.start_t_s)
    return start_t_s, end_t_s


def backlog_zoom(trace_or_frames: pl.DataFrame | KindFrames) -> tuple[float, float] | None:
    """The stretch a zoomed backlog plot shows beside the whole run (the peak episode, padded and
    clipped to the run), or None when the episode is not short or nothing waited.

    The rule is the constants above: `backlog_peak_span` at `BACKLOG_MATERIAL_SHARE`, zoomed when
    under `ZOOM_BELOW_SHARE` of the run, padded by `ZOOM_PAD_SHARE` (at least `ZOOM_PAD_S_MIN`).
    """
    frames = _frames(trace_or_frames)
    start_t_s, end_t_s = frames.start_t_s, max(frames.cutoff_t_s, frames.start_t_s)
    peak = backlog_peak_span(frames)
    if peak is None or peak[1] - peak[0] >= (end_t_s - start_t_s) * ZOOM_BELOW_SHARE:
        return None
    pad_s = max((peak[1] - peak[0]) * ZOOM_PAD_SHARE, ZOOM_PAD_S_MIN)
    return max(start_t_s, peak[0] - pad_s), min(end_t_s, peak[1] + pad_s)


def _frames(trace_or_frames: pl.DataFrame | KindFrames) -> KindFrames:
    return trace_or_frames if isinstance(trace_or_frames, KindFrames) else KindFrames(trace_or_frames)


def _backlog_changes(frames: KindFrames) -> dict[str, pl.DataFrame]:
    """Per backlog column, every moment its count changes and the count after it (``t_s``,
    column), sorted by time."""
    def compute(flow: str, column: str):
        return lambda: level_changes(_backlog_deltas(frames, flow), column)

    return {column: frames.derived(f"backlog_changes:{flow}", compute(flow, column))
            for flow, column in BACKLOG_COLUMNS.items()}


def backlog_total_changes(frames: KindFrames) -> pl.DataFrame:
    """Every moment the number of sources waiting for the ERP (invoices and payments together)
    changes, and that number after it: ``t_s`` and ``erp_backlog``, sorted by time."""
    return frames.derived("backlog_changes:total", lambda: level_changes(
        pl.concat([_backlog_deltas(frames, flow) for flow in BACKLOG_COLUMNS]), "erp_backlog"))


def level_changes(deltas: pl.DataFrame, column: str) -> pl.DataFrame:
    """``t_s`` and the level after every change (as ``column``), from ``t_s``/``delta`` rows."""
    return (deltas.group_by("t_s").agg(pl.col("delta").sum()).sort("t_s")
            .select("t_s", pl.col("delta").cum_sum().cast(pl.Int64).alias(column)))


def _backlog_deltas(frames: KindFrames, flow: str) -> pl.DataFrame:
    """+1 when a source starts waiting, -1 when its first ERP document lands (``t_s``, ``delta``).

    A source whose right outcome is an exception for a person (an invoice without tax, E13, and
    the payments of such an invoice) never waits for the ERP: it belongs to the exception queue."""
    times = _source_and_erp_times(frames, flow)
    for_a_person = frames.get("oracle.exception")["object_id"]
    if flow == "payment_to_erp":
        for_a_person = frames.get("payments.charge_succeeded").filter(
            pl.col("parent_id").is_in(for_a_person.implode()))["object_id"]
    times = times.filter(~pl.col("source_id").is_in(for_a_person.implode()))
    return pl.concat([
        times.select(pl.col("source_t_s").alias("t_s"), pl.lit(1).alias("delta")),
        times.filter(pl.col("erp_t_s").is_not_null()).select(
            # a document "before" its source still leaves the backlog no earlier
            pl.max_horizontal("erp_t_s", "source_t_s").alias("t_s"),
            pl.lit(-1).alias("delta"),
        ),
    ])
