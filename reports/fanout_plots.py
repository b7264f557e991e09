"""Figures of many runs side by side (comparisons and sweeps), as PNG bytes identical for identical
input: built like `rehearse.reports.plots` (explicit Agg canvas, default style, fixed size and dpi,
no "Software" metadata). Each arm keeps one colour across figures (``C0``, ``C1``, ... in arm
order).

Inputs are per-run summaries (`rehearse.reports.summary.run_summary`) and compared values
(`rehearse.reports.aggregate.compared_values`), grouped by arm in a dict whose order is the arms'.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np

from rehearse.reports.aggregate import ComparedMetric
from rehearse.reports.latency import FLOWS, ZOOM_BELOW_SHARE
from rehearse.reports.plots import FIGURE_DPI, PLAIN_NUMBER_FORMAT, SYMLOG_LINEAR_BELOW_S

__all__ = ["backlog_zoom_h", "latency_overlay_png", "metric_panels_png", "series_png"]

PANEL_SIZE_IN = (3.4, 2.4)
PANEL_COLUMNS = 3
WIDE_SIZE_IN = (9.0, 3.6)
SERIES_GRID_POINTS = 400
TITLE_WIDTH_CHARS = 48
STRIP_HEIGHT = 0.5
X_TICKS_MAX = 5  # the vertical spread of one arm's seeds in a strip, in arm rows
FLOW_TITLES = {"invoice_to_erp": "invoice to ERP", "payment_to_erp": "payment to ERP"}


def _render(draw, size_in: tuple[float, float]) -> bytes:
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.style.context("default"):
        figure = Figure(figsize=size_in, dpi=FIGURE_DPI, layout="constrained")
        FigureCanvasAgg(figure)
        draw(figure)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata={"Software": None})
        figure.clear()
    return buffer.getvalue()


def _colour(index: int) -> str:
    return f"C{index % 10}"


def latency_overlay_png(summaries: Mapping[str, Sequence[dict]]) -> bytes:
    """Latency ECDFs of every arm overlaid, one panel per flow.

    Each run contributes its quantiles (`rehearse.reports.summary.LATENCY_QUANTILES` of them), so
    every seed weighs the same in its arm's curve whatever its number of documents.
    """

    def draw(figure) -> None:
        panels = figure.subplots(1, len(FLOWS), sharey=True)
        for axes, flow in zip(panels, FLOWS):
            plotted = 0
            for index, (arm, runs) in enumerate(summaries.items()):
                values = np.sort(np.array(
                    [q for run in runs for q in run["latency"][flow]["quantiles_s"]], dtype=float))
                if values.size == 0:
                    continue
                share = np.arange(1, values.size + 1) / values.size
                axes.step(values, share, where="post", color=_colour(index), label=f"{arm} ({len(runs)} seeds)")
                plotted += 1
            axes.set_xscale("symlog", linthresh=SYMLOG_LINEAR_BELOW_S)
            axes.xaxis.set_major_formatter(PLAIN_NUMBER_FORMAT)
            axes.set_xlabel("seconds (log scale; linear below 1 s)")
            axes.set_ylim(0.0, 1.02)
            axes.grid(True, alpha=0.3)
            axes.set_title(f"Latency, {FLOW_TITLES.get(flow, flow)}")
            if plotted:
                axes.legend(loc="upper left", fontsize=8)  # ECDFs rise to the right: the upper left stays clear
            else:
                axes.text(0.5, 0.5, "no latency samples", ha="center", va="center", transform=axes.transAxes)
        panels[0].set_ylabel("share of documents posted")

    return _render(draw, WIDE_SIZE_IN)


def _on_grid(times_h: Sequence[float], values: Sequence[float], grid_h: np.ndarray) -> np.ndarray:
    """A step series (value holds until the next sample) read on a grid; after its last sample
    it keeps its last value (what was left at the cut-off stays)."""
    times = np.asarray(times_h, dtype=float)
    index = np.searchsorted(times, grid_h, side="right") - 1
    return np.asarray(values, dtype=float)[np.clip(index, 0, times.size - 1)]


def backlog_zoom_h(summaries: Mapping[str, Sequence[dict]]) -> tuple[float, float] | None:
    """The hours a comparison's zoomed backlog plot shows: from the earliest to the latest of the
    runs' zoom stretches (``erp_backlog_zoom_h``: each run's peak episode, padded), when every run
    in which something waited has one and together they stay under `ZOOM_BELOW_SHARE` of the
    longest run; else None (the whole-run plot alone)."""
    runs = [run for runs in summaries.values() for run in runs
            if run["series"]["t_h"] and max(run["series"]["erp_backlog"]) > 0]
    zooms = [run["series"]["erp_backlog_zoom_h"] for run in runs]
    if not zooms or any(zoom is None for zoom in zooms):
        return None
    from_h, to_h = min(zoom[0] for zoom in zooms), max(zoom[1] for zoom in zooms)
    end_h = max(run["series"]["t_h"][-1] for run in runs)
    return (from_h, to_h) if to_h - from_h < end_h * ZOOM_BELOW_SHARE else None


def series_png(summaries: Mapping[str, Sequence[dict]], key: str, *, title: str, ylabel: str,
               zoom_h: tuple[float, float] | None = None) -> bytes:
    """One series of every run (``erp_backlog`` or ``exceptions_open``) over virtual hours: per
    arm the mean over seeds as a line and the range from the lowest to the highest as a band;
    over ``zoom_h`` (from, to hours) instead of the whole run when given."""

    def draw(figure) -> None:
        axes = figure.add_subplot()
        runs_with_series = [run for runs in summaries.values() for run in runs if run["series"]["t_h"]]
        end_h = max((run["series"]["t_h"][-1] for run in runs_with_series), default=0.0)
        grid_h = np.linspace(*(zoom_h or (0.0, end_h)), SERIES_GRID_POINTS)
        for index, (arm, runs) in enumerate(summaries.items()):
            rows = [_on_grid(run["series"]["t_h"], run["series"][key], grid_h) for run in runs if run["series"]["t_h"]]
            if not rows:
                continue
            stacked = np.vstack(rows)
            axes.plot(grid_h, stacked.mean(axis=0), color=_colour(index), label=f"{arm} (mean of {len(rows)})")
            axes.fill_between(grid_h, stacked.min(axis=0), stacked.max(axis=0), color=_colour(index), alpha=0.15,
                              linewidth=0)
        axes.set_xlabel("hours since the start of the run (virtual time)")
        axes.set_ylabel(ylabel)
        axes.set_ylim(bottom=0)
        axes.grid(True, alpha=0.3)
        shown = "" if zoom_h is None else f", hours {zoom_h[0]:,.2f} to {zoom_h[1]:,.2f}"
        axes.set_title(f"{title}{shown} (band: lowest to highest seed)")
        if summaries:
            axes.legend(loc="best", fontsize=8)  # clear of a plateau, wherever it is

    return _render(draw, WIDE_SIZE_IN)


def _short_number(value: float, _position=None) -> str:
    """Tick labels that fit a small panel: 250k, 1.2M, 0.05."""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def metric_panels_png(values: Mapping[str, Sequence[Mapping[str, float | None]]],
                      metrics: Sequence[ComparedMetric]) -> bytes:
    """One small panel per metric: each arm's seeds as dots on its own row, and its mean as a bar.

    Parameters
    ----------
    values
        Arm -> one `compared_values` dict per run that completed.
    metrics
        The metrics to draw, in panel order.
    """
    rows = max(1, math.ceil(len(metrics) / PANEL_COLUMNS))
    arms = list(values)

    def draw(figure) -> None:
        panels = np.atleast_1d(figure.subplots(rows, PANEL_COLUMNS, squeeze=False)).ravel()
        for axes, metric in zip(panels, metrics):
            plotted = 0
            for index, arm in enumerate(arms):
                present = [seen for run in values[arm] if (seen := run.get(metric.path)) is not None]
                if not present:
                    continue
                plotted += 1
                offsets = np.linspace(-STRIP_HEIGHT / 2, STRIP_HEIGHT / 2, len(present)) if len(present) > 1 else [0.0]
                axes.scatter(present, [index + offset for offset in offsets], s=12, color=_colour(index),
                             alpha=0.7, linewidths=0)
                mean = float(np.mean(present))
                axes.plot([mean, mean], [index - STRIP_HEIGHT / 2 - 0.1, index + STRIP_HEIGHT / 2 + 0.1],
                          color="black", linewidth=1.5)
            if not plotted:
                axes.text(0.5, 0.5, "no run has a value", ha="center", va="center", transform=axes.transAxes,
                          fontsize=8, color="#555")
            axes.set_yticks(range(len(arms)), arms, fontsize=8)
            axes.set_ylim(len(arms) - 0.5, -0.5)
            axes.tick_params(axis="x", labelsize=8)
            axes.locator_params(axis="x", nbins=X_TICKS_MAX)
            axes.xaxis.set_major_formatter(_short_number)
            better = f" ({metric.better} is better)" if metric.better else ""
            axes.set_title(textwrap.fill(f"{metric.label}{better}", TITLE_WIDTH_CHARS), fontsize=8)
            axes.grid(True, axis="x", alpha=0.3)
        for axes in panels[len(metrics):]:
            axes.set_visible(False)

    return _render(draw, (PANEL_SIZE_IN[0] * PANEL_COLUMNS, PANEL_SIZE_IN[1] * rows))
