"""A run's small summary for comparisons and sweeps: what the plots need beyond ``metrics.json``.

A sweep runs each simulation in a worker process (or on a cluster) and must not ship whole traces
back. `run_summary` reduces a trace to a few kilobytes: each latency flow's quantiles (enough to
draw its distribution) and two series over virtual hours since the start: sources waiting for the
ERP (the ERP backlog) and exceptions open (the backlog left to people), each sample the most
reached in its interval, so a peak shorter than the grid's step is not lost. The grid is even over
the run, and denser over the backlog's peak episode when that is short (a peak of minutes in a run
of days: `rehearse.reports.latency.backlog_zoom`), so the comparison can plot the peak's shape.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import polars as pl

from rehearse.reports.frame import KindFrames
from rehearse.reports.latency import (
    FLOWS,
    QUANTILE_METHOD,
    backlog_total_changes,
    backlog_zoom,
    latency_samples,
    level_changes,
)
from rehearse.reports.resilience import exception_moves

__all__ = ["LATENCY_QUANTILES", "SERIES_POINTS", "erp_backlog_series", "exceptions_open_series", "run_summary"]

LATENCY_QUANTILES = 201  # quantiles 0, 0.5 %, ..., 100 %: an ECDF from them looks like the real one
SERIES_POINTS = 240  # samples of each series over the run: an hour-long peak in a month still shows
SECONDS_PER_HOUR = 3_600.0
SUMMARY_DECIMALS = 6


def _binned_max(changes: pl.DataFrame, column: str, grid_t_s: np.ndarray) -> pl.DataFrame:
    """The highest level in each interval of a grid (sorted sample times): sample ``i`` holds the
    most reached in ``(t[i-1], t[i]]``, so a burst shorter than a step still shows."""
    grid = pl.DataFrame({"t_s": pl.Series(grid_t_s, dtype=pl.Float64)})
    at_sample = grid.join_asof(changes, on="t_s", strategy="backward").with_columns(pl.col(column).fill_null(0))
    bins = np.searchsorted(grid_t_s, changes["t_s"].to_numpy(), side="left").clip(0, grid_t_s.size - 1)
    inside = (
        changes.with_columns(pl.Series("bin", bins, dtype=pl.Int64))
        .group_by("bin").agg(pl.col(column).max().alias("bin_max"))
    )
    return (
        at_sample.with_row_index("bin").with_columns(pl.col("bin").cast(pl.Int64))
        .join(inside, on="bin", how="left")
        # the level at the previous sample holds into the interval until its first change
        .select("t_s", pl.max_horizontal(column, pl.col(column).shift(1).fill_null(0),
                                         pl.col("bin_max").fill_null(0)).alias(column))
    )


def _uniform_grid(frames: KindFrames, step_s: float) -> np.ndarray:
    start_t_s, cutoff_t_s = frames.start_t_s, max(frames.cutoff_t_s, frames.start_t_s)
    steps = int((cutoff_t_s - start_t_s) // step_s) + 1
    return start_t_s + np.arange(steps, dtype=np.float64) * step_s


def _summary_grid(frames: KindFrames, zoom: tuple[float, float] | None) -> np.ndarray:
    """`SERIES_POINTS` samples over the run, and as many again over the backlog's zoom stretch
    when there is one (so a peak of minutes in a run of days keeps its shape)."""
    span_s = max(frames.cutoff_t_s - frames.start_t_s, 0.0)
    if span_s / (SERIES_POINTS - 1) >= 1.0:  # both ends exact: a floored step count can miss the cut-off
        grid = np.linspace(frames.start_t_s, frames.start_t_s + span_s, SERIES_POINTS)
    else:
        grid = _uniform_grid(frames, 1.0)
    if zoom is not None:
        grid = np.union1d(grid, np.linspace(zoom[0], zoom[1], SERIES_POINTS))
    return grid


def erp_backlog_series(frames: KindFrames, step_s: float) -> pl.DataFrame:
    """Invoices and payments waiting for the ERP: the most at once in each ``step_s`` interval
    (the waiting rule of `rehearse.reports.latency.backlog_series`).

    Returns
    -------
    polars.DataFrame
        ``t_s`` (each interval's end) and ``erp_backlog`` (Int64).
    """
    if step_s <= 0:
        raise ValueError(f"step_s must be > 0, got {step_s}")
    return _binned_max(backlog_total_changes(frames), "erp_backlog", _uniform_grid(frames, step_s))


def exceptions_open_series(frames: KindFrames, step_s: float) -> pl.DataFrame:
    """Exceptions open over virtual time: the most open at once in each ``step_s`` interval.

    An external id's exception opens at an ``engine.exception_opened`` row when it was not open
    already, and closes at the next ``engine.exception_resolved`` row (the rule of
    `rehearse.reports.resilience.open_exceptions`, applied at every moment).

    Returns
    -------
    polars.DataFrame
        ``t_s`` (each interval's end) and ``exceptions_open`` (Int64).
    """
    if step_s <= 0:
        raise ValueError(f"step_s must be > 0, got {step_s}")
    return _binned_max(_exceptions_changes(frames), "exceptions_open", _uniform_grid(frames, step_s))


def _exceptions_changes(frames: KindFrames) -> pl.DataFrame:
    opens, was_open = pl.col("open"), pl.col("was_open")
    deltas = exception_moves(frames).select("t_s", pl.when(opens & ~was_open).then(1)
                                            .when(~opens & was_open).then(-1).otherwise(0).alias("delta"))
    return level_changes(deltas, "exceptions_open")


def _latency_quantiles(samples: pl.DataFrame) -> dict:
    quantiles = [index / (LATENCY_QUANTILES - 1) for index in range(LATENCY_QUANTILES)]
    result = {}
    for flow in FLOWS:
        values = samples.filter(pl.col("flow") == flow)["latency_s"]
        result[flow] = {
            "count": values.len(),
            "quantiles_s": [] if values.len() == 0 else [
                # Not None: `values` is not empty.
                round(float(cast(float, values.quantile(q, QUANTILE_METHOD))), SUMMARY_DECIMALS) for q in quantiles],
        }
    return result


def run_summary(trace: pl.DataFrame | pl.LazyFrame) -> dict:
    """Summarise a run's trace for comparisons: latency quantiles and backlog series.

    Parameters
    ----------
    trace
        The run's trace.

    Returns
    -------
    dict
        ``latency`` (per flow: ``count`` and ``quantiles_s``, `LATENCY_QUANTILES` evenly spaced
        nearest-rank quantiles, empty without samples) and ``series``: ``t_h`` (hours since the
        run's start, ascending), ``erp_backlog`` (invoices and payments waiting for the ERP) and
        ``exceptions_open``, each sample the most reached since the previous one: `SERIES_POINTS`
        samples evenly from the start to the cut-off, plus as many again over
        ``erp_backlog_zoom_h`` (the ``[from, to]`` hours a backlog plot shows instead of the whole
        run, `rehearse.reports.latency.backlog_zoom`; None when it shows the whole run). Plain
        Python values, deterministic for a given trace.
    """
    frames = KindFrames(trace)
    zoom = backlog_zoom(frames)
    grid = _summary_grid(frames, zoom)
    backlog = _binned_max(backlog_total_changes(frames), "erp_backlog", grid)
    exceptions = _binned_max(_exceptions_changes(frames), "exceptions_open", grid)

    def hours(t_s: float) -> float:
        return round((t_s - frames.start_t_s) / SECONDS_PER_HOUR, SUMMARY_DECIMALS)

    return {
        "latency": _latency_quantiles(latency_samples(frames)),
        "series": {
            "t_h": [hours(t_s) for t_s in backlog["t_s"]],
            "erp_backlog": backlog["erp_backlog"].to_list(),
            "exceptions_open": exceptions["exceptions_open"].to_list(),
            "erp_backlog_zoom_h": None if zoom is None else [hours(zoom[0]), hours(zoom[1])],
        },
    }
