"""Metrics (and the trace, for the plots) -> one self-contained ``report.html``.

The page has no external references: styles are inline and figures are embedded as base64 PNG. It is
byte-identical for the same trace and metrics; the only wall-clock numbers it shows are those given
in ``metrics["wall"]``, in a table labelled as such.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path

import polars as pl

from rehearse.reports.frame import KindFrames
from rehearse.reports.gates import GATES
from rehearse.reports.latency import (
    BACKLOG_MATERIAL_SHARE,
    FLOWS,
    backlog_series,
    backlog_zoom,
    latency_samples,
)
from rehearse.reports.faults import fault_windows
from rehearse.reports.plots import backlog_png, latency_png
from rehearse.reports.reconcile import invoice_table, payment_table

__all__ = ["write_report"]

REPORT_NAME = "report.html"
BACKLOG_POINTS = 2_000  # samples across what the plot shows
BACKLOG_STEP_S_MIN = 1.0
UNRECONCILED_ROWS_MAX = 20
RECONCILIATION_ROWS = (
    "expected",
    "matched",
    "missing",
    "in_flight",
    "duplicated",
    "mismatched",
    "mismatched_fields",
    "mismatched_status",
    "orphaned",
)
STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.banner{font-size:1.6em;font-weight:bold;padding:.4em .8em;color:#fff;display:inline-block}
.pass{background:#2e7d32}.fail{background:#c62828}
.ok{color:#2e7d32}.bad{color:#c62828;font-weight:bold}
.wall{font-size:.85em;color:#555}
img{max-width:100%}
"""
HOW_TO_READ = (
    "Reconciliation joins what the ERP holds with what it should hold (the oracle, derived from the"
    " commercial truth) on the source id: every invoice and payment is matched, missing (including "
    "those still in flight at the cut-off), duplicated or mismatched, and ERP documents without a "
    "source are orphaned. Accuracy is the matched share of the expected amount, per entity and "
    "currency; the headline is the worst group. Invariants are the accounting rules of the domain "
    "model checked at the cut-off. Latency runs from the commercial event (invoice finalized, "
    "charge succeeded) to the first ERP document; percentiles are nearest-rank. Resilience counts "
    "the work the engine did to get there (calls, retries, rejections) and what it left to people "
    "(exceptions, by age at the cut-off). All times are virtual: the same seed gives the same "
    "report."
)


def _format(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        text = f"{value:,.6f}".rstrip("0").rstrip(".")
        return "0" if text in ("", "-0") else text
    return str(value)


VERDICT_CLASSES = {"pass": "ok", "holds": "ok", "FAIL": "bad", "FAILS": "bad"}


def _cell(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        css_class = "n"
    else:
        css_class = VERDICT_CLASSES.get(value, "") if isinstance(value, str) else ""
    class_attr = f' class="{css_class}"' if css_class else ""
    return f"<td{class_attr}>{escape(_format(value))}</td>"


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], css_class: str = "") -> str:
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    body = "\n".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in rows)
    class_attr = f' class="{css_class}"' if css_class else ""
    return f"<table{class_attr}>\n<tr>{head}</tr>\n{body}\n</table>"


def _image(png: bytes, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _milliseconds(seconds: object) -> object:
    """Seconds shown to the millisecond (latencies are sampled to the microsecond, which is noise
    on a page); counts and missing values as they are."""
    return round(seconds, 3) if isinstance(seconds, float) else seconds


def _utc(t_s: float) -> str:
    try:
        return dt.datetime.fromtimestamp(t_s, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "out of the calendar's range"


def _header(metrics: Mapping) -> str:
    passed = metrics.get("passed", False)
    banner = (
        '<div class="banner pass">PASS</div>' if passed else '<div class="banner fail">FAIL</div>'
    )
    cutoff = metrics.get("cutoff_t_s")
    rows = [
        ("scenario", metrics.get("scenario")),
        ("seed", metrics.get("seed")),
        ("pattern", metrics.get("pattern")),
        ("cut-off (virtual)", None if cutoff is None else f"{_utc(cutoff)} ({cutoff} s)"),
        ("trace rows", metrics.get("rows")),
    ]
    title = f"rehearse report: {escape(str(metrics.get('scenario')))}"
    return (
        f"<h1>{title}</h1>\n{banner}\n{_table(('run', ''), rows)}\n"
        f"<h2>How to read this report</h2>\n<p>{escape(HOW_TO_READ)}</p>"
    )


def _gates(metrics: Mapping) -> str:
    gates = metrics.get("gates", [])
    if not gates:
        return "<h2>Gates</h2>\n<p>No gates set: the run passes.</p>"
    rows = [
        (
            gate["name"],
            GATES[gate["name"]].description if gate["name"] in GATES else "",
            gate["value"],
            gate["limit"],
            "pass" if gate["passed"] else "FAIL",
        )
        for gate in gates
    ]
    return "<h2>Gates</h2>\n" + _table(("gate", "what", "value", "limit", "result"), rows)


def _reconciliation(metrics: Mapping, frames: KindFrames) -> str:
    recon = metrics["reconciliation"]
    counts = _table(
        ("", "invoices", "payments"),
        [
            (name, recon["invoices"].get(name), recon["payments"].get(name))
            for name in RECONCILIATION_ROWS
        ],
    )
    groups = _table(
        ("reconciliation", "entity", "currency", "expected amount (minor)", "matched amount (minor)", "accuracy"),
        [
            (
                g["reconciliation"],
                g["entity"],
                g["currency"],
                g["expected_amount_minor"],
                g["matched_amount_minor"],
                g["accuracy"],
            )
            for g in recon["accuracy_by_group"]
        ],
    )
    columns = ["source_id", "outcome", "oracle_amount_minor", "erp_amount_minor", "erp_documents"]
    problems = pl.concat(
        [
            invoice_table(frames).select(
                pl.lit("invoice").alias("kind"), *columns, "oracle_code", "erp_state"
            ),
            payment_table(frames).select(
                pl.lit("payment").alias("kind"),
                *columns,
                pl.lit(None, dtype=pl.String).alias("oracle_code"),
                pl.lit(None, dtype=pl.String).alias("erp_state"),
            ),
        ]
    ).filter(pl.col("outcome") != "matched")
    shown = (
        problems.sort("kind", "source_id")
        .group_by("kind", maintain_order=True)
        .head(UNRECONCILED_ROWS_MAX)
    )
    headers = ("kind", "source id", "outcome", "expected amount", "ERP amount", "ERP documents")
    unreconciled = (
        _table((*headers, "expected state", "ERP state"), shown.rows())
        if shown.height
        else "<p>None: every expected invoice and payment is matched, and nothing is orphaned.</p>"
    )
    return (
        f"<h2>Reconciliation</h2>\n<p>Accuracy (worst entity/currency): "
        f"<b>{escape(_format(recon['accuracy']))}</b>; invoices missing but in flight: "
        f"{escape(_format(recon['in_flight']))}.</p>\n{counts}\n"
        f"<h3>Accuracy by reconciliation, entity and currency</h3>\n{groups}\n"
        f"<h3>Unreconciled sources (first {UNRECONCILED_ROWS_MAX} of each kind, by id)</h3>\n"
        f"{unreconciled}"
    )


def _invariants(metrics: Mapping) -> str:
    rows = [
        (item["id"], "holds" if item["holds"] else "FAILS", item["detail"])
        for item in metrics["reconciliation"]["invariants"]
    ]
    return "<h2>Invariants</h2>\n" + _table(("invariant", "result", "detail"), rows)


def _latency(metrics: Mapping, frames: KindFrames) -> str:
    latency = metrics["latency_s"]
    stats = ("count", "p50", "p95", "p99", "max")
    overall = _table(
        ("flow", *stats), [(flow, *(_milliseconds(latency[flow][s]) for s in stats)) for flow in FLOWS]
    )
    per_entity = _table(
        ("entity", "flow", *stats),
        [
            (row["entity"], flow, *(_milliseconds(row[flow][s]) for s in stats))
            for row in latency["by_entity"]
            for flow in FLOWS
        ],
    )
    figure = _image(latency_png(latency_samples(frames)), "latency ECDF")
    return (
        "<h2>Latency (seconds, virtual time)</h2>\n"
        f"{overall}\n<h3>By entity</h3>\n{per_entity}\n{figure}"
    )


def _resilience(metrics: Mapping, frames: KindFrames) -> str:
    resilience = metrics["resilience"]
    scalars = [(key, value) for key, value in resilience.items() if not isinstance(value, list)]
    calls = _table(
        ("ERP call code", "count"),
        [(r["code"], r["count"]) for r in resilience["erp_calls_by_code"]],
    )
    ages = _table(
        ("open exception age", "count"),
        [(r["bucket"], r["count"]) for r in resilience["exceptions_by_age"]],
    )
    reasons = _table(
        ("open exception reason", "count"),
        [(r["reason"], r["count"]) for r in resilience.get("exceptions_open_by_reason", [])],
    )
    return (
        f"<h2>Resilience</h2>\n{_table(('metric', 'value'), scalars)}\n{calls}\n{ages}\n{reasons}\n"
        f"<h3>ERP backlog over virtual time</h3>\n{_backlog(frames)}"
    )


def _backlog(frames: KindFrames) -> str:
    """The backlog plot over the whole run and, when its peak episode is short
    (`rehearse.reports.latency.backlog_zoom`), a second plot of that stretch, saying which."""
    windows = fault_windows(frames)
    whole = _backlog_image(frames, frames.start_t_s, max(frames.cutoff_t_s, frames.start_t_s), windows)
    zoom = backlog_zoom(frames)
    if zoom is None:
        return whole
    caption = (
        f"<p>The peak, zoomed: {_hours(zoom[0] - frames.start_t_s)} to {_hours(zoom[1] - frames.start_t_s)} h "
        f"after the start of the run ({_utc(zoom[0])} to {_utc(zoom[1])}), around the moment most sources "
        f"waited, for as long as at least {BACKLOG_MATERIAL_SHARE:.0%} of that many waited.</p>\n"
    )
    return f"{whole}\n{caption}{_backlog_image(frames, zoom[0], zoom[1], windows, 'ERP backlog at the peak')}"


def _backlog_image(frames: KindFrames, from_t_s: float, to_t_s: float, windows, alt: str = "ERP backlog") -> str:
    step_s = max((to_t_s - from_t_s) / BACKLOG_POINTS, BACKLOG_STEP_S_MIN)
    series = backlog_series(frames, step_s, from_t_s=from_t_s, to_t_s=to_t_s)
    return _image(backlog_png(series, frames.start_t_s, windows, title=alt), alt)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600.0:,.2f}"


def _counts_and_wall(metrics: Mapping) -> str:
    counts = _table(
        ("kind", "rows"), [(row["kind"], row["count"]) for row in metrics.get("counts", [])]
    )
    text = f"<h2>Trace rows per kind</h2>\n{counts}"
    wall = metrics.get("wall")
    if wall:
        rows = sorted((str(key), value) for key, value in wall.items())
        text += (
            '\n<h2 class="wall">Wall-clock (differs between runs of the same seed)</h2>\n'
            + _table(("measure", "value"), rows, css_class="wall")
        )
    return text


def _phases(metrics: Mapping) -> str:
    safety = metrics.get("safety")
    liveness = metrics.get("liveness")
    if safety is None or liveness is None:
        return ""
    first = safety["first_violation"]
    first_text = (
        f"first: {first['id']} at {_utc(first['t_s'])} ({first['detail']})" if first else "none"
    )
    rows = [
        ("invariant violations while faults were on", safety["violations"]),
        ("first violation", first_text),
        *((f"violations of {item['id']}", item["count"]) for item in safety["by_invariant"]),
        ("faults healed at", _utc(liveness["healed_t_s"]) if liveness["healed_t_s"] else "-"),
        ("drained before the limit", "yes" if liveness["drained"] else "NO"),
        ("converged (drained, nothing missing)", "yes" if liveness["converged"] else "NO"),
        ("time to converge, seconds", liveness["time_to_converge_s"]),
    ]
    return "<h2>Safety and liveness</h2>\n" + _table(("", "value"), rows)


RECOVERY_ROWS_SHOWN = 50  # fault windows listed on the page; metrics.json has every one


def _faults(metrics: Mapping) -> str:
    rows = [
        (row["kind"], row["injected"], row["affected"], row["affected_postings"], row["recovered"],
         _utc(row["first_t_s"]), _utc(row["last_t_s"]))
        for row in metrics.get("faults", [])
    ]
    if not rows:
        return "<h2>Faults</h2>\n<p>No fault was injected.</p>"
    windows = metrics.get("recovery", [])
    shown, note = windows, ""
    if len(windows) > RECOVERY_ROWS_SHOWN:
        # A window recurring every minute is thousands of rows: the page shows the slowest to
        # recover (not back by the cut-off first), in time order; metrics.json keeps them all.
        slowest = sorted(range(len(windows)), key=lambda index: (
            windows[index]["recovery_s"] is not None, -(windows[index]["recovery_s"] or 0.0), index))
        shown = [windows[index] for index in sorted(slowest[:RECOVERY_ROWS_SHOWN])]
        note = (f"<p>{len(windows):,} fault windows; the {RECOVERY_ROWS_SHOWN} slowest to recover are shown, "
                f"in time order. metrics.json lists every one under <code>recovery</code>.</p>\n")
    recovery = [
        (row["kind"], _utc(row["start_t_s"]), _utc(row["end_t_s"]), row["backlog_at_start"],
         row["backlog_peak"], row["recovery_s"])
        for row in shown
    ]
    recovery_table = (
        "<h3>Recovery after each fault window</h3>\n" + note + _table(
            ("kind", "from", "to", "backlog at start", "backlog peak", "recovery, seconds"), recovery)
        if recovery else ""
    )
    return "<h2>Faults</h2>\n" + _table(
        ("kind", "injected", "affected ids", "of them postings", "posted in the end", "first", "last"), rows
    ) + recovery_table


def write_report(out_dir: Path, trace: pl.DataFrame | pl.LazyFrame, metrics: dict) -> Path:
    """Write ``out_dir/report.html``: the metrics as tables and two plots drawn from the trace.

    Parameters
    ----------
    out_dir
        Directory to write into (created if absent).
    trace
        The run's trace; the plots (latency ECDF, ERP backlog) and the unreconciled examples are
        drawn from it.
    metrics
        The result of `rehearse.reports.compute_metrics`, optionally with a ``wall`` mapping of
        wall-clock measures (shown in a separate table).

    Returns
    -------
    pathlib.Path
        The path of the written report.
    """
    frames = KindFrames(trace)
    sections = [
        _header(metrics),
        _gates(metrics),
        _reconciliation(metrics, frames),
        _invariants(metrics),
        _phases(metrics),
        _faults(metrics),
        _latency(metrics, frames),
        _resilience(metrics, frames),
        _counts_and_wall(metrics),
    ]
    title = escape(
        f"rehearse: {metrics.get('scenario')} seed {metrics.get('seed')} {metrics.get('pattern')}"
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / REPORT_NAME
    path.write_bytes(page.encode("utf-8"))
    return path
