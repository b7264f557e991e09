"""The report's figures, rendered to PNG bytes that are identical for identical input.

Figures are built on `matplotlib.figure.Figure` with an explicit Agg canvas (no pyplot, so no global
figure registry to leak), under matplotlib's default style (a user's matplotlibrc cannot change the
bytes), at a fixed size and dpi, and saved without the "Software" PNG metadata.
"""

from __future__ import annotations

import io

import numpy as np
import polars as pl

__all__ = ["backlog_png", "latency_png", "merged_spans"]

FIGURE_SIZE_IN = (8.0, 3.6)
FIGURE_DPI = 100
ECDF_POINTS_MAX = 1_000  # an ECDF drawn from 1,000 quantiles is indistinguishable from all samples
SYMLOG_LINEAR_BELOW_S = 1.0  # latencies of 0 s happen (inline posting); symlog shows them
SECONDS_PER_HOUR = 3_600.0
FLOW_LABELS = {"invoice_to_erp": "invoice to ERP", "payment_to_erp": "payment to ERP"}


PLAIN_NUMBER_FORMAT = "{x:,.0f}"


def _render(draw) -> bytes:
    # Imported here: matplotlib takes seconds to import, and metrics alone never need it.
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.style.context("default"):
        figure = Figure(figsize=FIGURE_SIZE_IN, dpi=FIGURE_DPI, layout="constrained")
        FigureCanvasAgg(figure)
        draw(figure.add_subplot())
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata={"Software": None})
        figure.clear()
    return buffer.getvalue()


def _ecdf_points(latency_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ordered = np.sort(latency_s)
    count = ordered.size
    if count > ECDF_POINTS_MAX:
        index = np.linspace(0, count - 1, ECDF_POINTS_MAX).round().astype(np.int64)
    else:
        index = np.arange(count)
    return ordered[index], (index + 1) / count


def latency_png(samples: pl.DataFrame) -> bytes:
    """ECDF of each flow's latency, seconds on a symmetric log axis.

    Parameters
    ----------
    samples
        `rehearse.reports.latency.latency_samples` output (``flow``, ``latency_s``).

    Returns
    -------
    bytes
        A PNG image.
    """

    def draw(axes) -> None:
        plotted = 0
        for flow, label in FLOW_LABELS.items():
            values = samples.filter(pl.col("flow") == flow)["latency_s"].to_numpy()
            if values.size == 0:
                continue
            x, y = _ecdf_points(values)
            axes.step(x, y, where="post", label=f"{label} (n={values.size:,})")
            plotted += 1
        if plotted == 0:
            axes.text(0.5, 0.5, "no latency samples", ha="center", va="center")
        else:
            axes.legend(loc="upper left")  # the curves rise to the right: the upper left stays clear
        axes.set_xscale("symlog", linthresh=SYMLOG_LINEAR_BELOW_S)
        # plain numbers ("100", not 10^2): easier to read, and no mathtext to load
        axes.xaxis.set_major_formatter(PLAIN_NUMBER_FORMAT)
        axes.set_xlabel("latency, seconds (log scale; linear below 1 s)")
        axes.set_ylabel("share of documents posted")
        axes.set_ylim(0.0, 1.02)
        axes.grid(True, alpha=0.3)
        axes.set_title("Latency to the ERP (ECDF)")

    return _render(draw)


def merged_spans(from_x: np.ndarray, to_x: np.ndarray, gap_min: float) -> list[tuple[float, float]]:
    """The union of the spans [from_x[i], to_x[i]], with gaps narrower than `gap_min` closed.

    Returns the merged spans in ascending order, none overlapping or touching, and each separated
    from the next by at least `gap_min`. Every point of an input span lies in an output span, and
    every point of an output span lies in an input span or in a gap narrower than `gap_min`.
    """
    if from_x.size == 0:
        return []
    order = np.argsort(from_x, kind="stable")
    merged: list[tuple[float, float]] = []
    current_from, current_to = float(from_x[order[0]]), float(to_x[order[0]])
    for index in order[1:]:
        span_from, span_to = float(from_x[index]), float(to_x[index])
        if span_from <= current_to or span_from - current_to < gap_min:  # touching spans join too
            current_to = max(current_to, span_to)
        else:
            merged.append((current_from, current_to))
            current_from, current_to = span_from, span_to
    merged.append((current_from, current_to))
    return merged


def backlog_png(backlog: pl.DataFrame, start_t_s: float, windows: pl.DataFrame | None = None,
                title: str = "ERP backlog") -> bytes:
    """Invoices and payments waiting for the ERP over virtual time.

    Parameters
    ----------
    backlog
        `rehearse.reports.latency.backlog_series` output: the whole run or a stretch of it (the
        x axis spans the series).
    start_t_s
        The time shown as hour 0.
    windows
        Fault windows to shade (`rehearse.reports.faults.fault_windows`), or None.
    title
        The figure's title.

    Returns
    -------
    bytes
        A PNG image.
    """

    def draw(axes) -> None:
        hours = ((backlog["t_s"] - start_t_s) / SECONDS_PER_HOUR).to_numpy()
        # Payments first, invoices over them dashed: where the two counts meet, both stay visible.
        axes.plot(hours, backlog["payments_waiting"].to_numpy(), label="payments waiting", color="tab:orange")
        axes.plot(hours, backlog["invoices_waiting"].to_numpy(), label="invoices waiting", color="tab:blue",
                  linestyle="--")
        if hours.size > 1:
            axes.set_xlim(hours[0], hours[-1])  # the series' stretch, even when fault windows reach beyond
        axes.set_xlabel("hours since the start of the run (virtual time)")
        axes.set_ylabel("sources not yet in the ERP")
        axes.set_ylim(bottom=0)
        axes.grid(True, alpha=0.3)
        axes.legend(loc="best")  # a plateau at the top (a receiver down for hours) would sit under a fixed corner
        axes.set_title(title)
        if windows is not None and hours.size:
            from_h = ((windows["start_t_s"] - start_t_s) / SECONDS_PER_HOUR).to_numpy()
            to_h = ((windows["end_t_s"] - start_t_s) / SECONDS_PER_HOUR).to_numpy()
            shown = (to_h >= hours[0]) & (from_h <= hours[-1])  # a zoomed plot shows only some windows
            # A window recurring every minute over days is thousands of spans, each one artist that
            # the legend's "best" placement tests: spans closer than a pixel are drawn as one.
            pixel_h = (hours[-1] - hours[0]) / (FIGURE_SIZE_IN[0] * FIGURE_DPI)
            for span_from_h, span_to_h in merged_spans(from_h[shown], to_h[shown], pixel_h):
                axes.axvspan(span_from_h, span_to_h, color="tab:red", alpha=0.12)
            if shown.any():
                axes.text(0.01, 0.97, "shaded: fault windows", transform=axes.transAxes, va="top",
                          fontsize=8, color="tab:red")

    return _render(draw)
