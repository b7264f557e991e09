"""A comparison or sweep document (`rehearse.reports.fanout`) -> one self-contained HTML page.

``comparison.html`` puts the arms side by side: a table of each metric's mean and spread per arm,
then the figures (latency overlaid, outcomes, backlogs over time, the cost side). ``sweep.html``
leads with the seeds whose gates failed and the command that replays each, then each metric's
distribution over seeds, and every seed with the faults a swarm drew for it. Figures are embedded
PNGs; the only wall-clock numbers are those in ``document["wall"]``, in a table labelled as such.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

from rehearse.reports.aggregate import COMPARED_METRICS, ComparedMetric
from rehearse.reports.fanout_plots import backlog_zoom_h, latency_overlay_png, metric_panels_png, series_png
from rehearse.reports.html import STYLE, _image, _table
from rehearse.reports.latency import BACKLOG_MATERIAL_SHARE

__all__ = ["write_comparison_html", "write_sweep_html"]

OUTCOME_METRICS = ("reconciliation.accuracy", "reconciliation.missing", "reconciliation.duplicated",
                   "resilience.failed_posting_rate", "safety.violations", "resilience.exceptions_open",
                   "recovery_s_max", "windows_unrecovered", "liveness.converged")
COST_METRICS = ("resilience.erp_calls_per_posting", "resilience.erp_concurrency_peak",
                "liveness.time_to_converge_s", "resilience.retries", "resilience.erp_concurrency_rejections",
                "resilience.erp_calls")
EXTRA_STYLE = ("pre{white-space:pre-wrap;font-size:.85em}code{font-size:.9em}"
               "td.cmd{font-family:monospace;font-size:.8em}")
HOW_TO_READ_COMPARISON = (
    "Every arm ran the same scenario over the same seeds; an arm is a sync pattern (engine.pattern) or "
    "a variant with its own --set overrides. Each cell is the mean over the seeds that completed, "
    "± the standard deviation, then the lowest and highest seed and n. A metric without a value in "
    "a run (no latency samples, no convergence, no fault window) is left out of that cell and n says "
    "how many seeds had one. Numbers are rounded to three significant digits; comparison.json has them "
    "in full. All times are virtual seconds.")
HOW_TO_READ_SWEEP = (
    "Every seed ran the scenario once per arm. The failed runs are listed first with the command that "
    "replays each exactly (in swarm mode the drawn faults are part of the command). The distribution "
    "table gives, per metric, how many seeds had a value (n), their mean, standard deviation, "
    "lowest, median (lower) and highest, to three significant digits (sweep.json has them in full). "
    "All times are virtual seconds.")


def _metric(path: str) -> ComparedMetric:
    return next(metric for metric in COMPARED_METRICS if metric.path == path)


def _page(title: str, sections: Sequence[str]) -> bytes:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}{EXTRA_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(section for section in sections if section) + "\n</body>\n</html>\n"
    ).encode("utf-8")


def _header(document: Mapping, kind: str, how_to_read: str) -> str:
    arms = _table(("arm", "its overrides"),
                  [(arm["name"], " ".join(arm["overrides"]) or "(none)") for arm in document["arms"]])
    rows = [("scenario", document["scenario"]),
            ("seeds", ", ".join(str(seed) for seed in document["seeds"])),
            ("overrides of every arm", " ".join(document["overrides"]) or "(none)"),
            ("swarm (faults drawn per seed)", "yes" if document.get("swarm") else "no")]
    return (f"<h1>rehearse {kind}: {escape(str(document['scenario']))}</h1>\n{_table(('', ''), rows)}\n{arms}\n"
            f"<h2>How to read this page</h2>\n<p>{escape(how_to_read)}</p>")


def _short(value: float) -> str:
    """Three significant digits or whole numbers: the JSON keeps full precision."""
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _mean_cell(stats: Mapping) -> str:
    if not stats["n"]:
        return "—"
    text = f"{_short(stats['mean'])} ± {_short(stats['std'])}"
    return f"{text}  [{_short(stats['min'])} – {_short(stats['max'])}, n={stats['n']}]"


def _comparison_table(document: Mapping) -> str:
    arms = document["arms"]
    rows = [
        (metric["label"], *(_mean_cell(arm["statistics"][metric["path"]]) for arm in arms))
        for metric in document["metrics"]
    ]
    rows.append(("runs completed / passed all gates", *(f"{arm['runs']} / {arm['passed']}" for arm in arms)))
    return ("<h2>Side by side (mean ± std [min – max, n])</h2>\n"
            + _table(("metric", *(arm["name"] for arm in arms)), rows))


def _failed(document: Mapping) -> str:
    if not document["failed"]:
        return "<h2>Failed runs</h2>\n<p>None: every run completed and passed its gates.</p>"
    rows = "\n".join(
        f"<tr><td>{escape(row['arm'])}</td><td class=\"n\">{row['seed']}</td><td>{escape(row['reason'])}</td>"
        f"<td class=\"cmd\">{escape(row['replay'])}</td></tr>"
        for row in document["failed"])
    return ("<h2>Failed runs, and the command that replays each</h2>\n<table>\n"
            "<tr><th>arm</th><th>seed</th><th>why</th><th>replay</th></tr>\n" + rows + "\n</table>")


def _errors(errors: Sequence[Mapping]) -> str:
    if not errors:
        return ""
    items = "\n".join(f"<h3>{escape(item['arm'])}, seed {item['seed']}: {escape(item['error'])}</h3>\n"
                      f"<pre>{escape(item.get('traceback') or '')}</pre>" for item in errors)
    return "<h2>Runs that raised</h2>\n" + items


def _wall(document: Mapping) -> str:
    wall = document.get("wall")
    if not wall:
        return ""
    return ('<h2 class="wall">Wall-clock (differs between sweeps of the same seeds)</h2>\n'
            + _table(("measure", "value"), sorted((str(key), value) for key, value in wall.items()), css_class="wall"))


def _values_by_arm(document: Mapping) -> dict[str, list[Mapping]]:
    values: dict[str, list[Mapping]] = {arm["name"]: [] for arm in document["arms"]}
    for row in document["runs"]:
        if row["values"] is not None:
            values[row["arm"]].append(row["values"])
    return values


def _figures(document: Mapping, summaries: Mapping[str, Sequence[dict]]) -> str:
    values = _values_by_arm(document)
    outcome = metric_panels_png(values, [_metric(path) for path in OUTCOME_METRICS])
    cost = metric_panels_png(values, [_metric(path) for path in COST_METRICS])
    latency = latency_overlay_png(summaries)
    exceptions = series_png(summaries, "exceptions_open", title="Exceptions open",
                            ylabel="exceptions open (people's backlog)")
    return (
        "<h2>Latency to the ERP, every arm overlaid</h2>\n" + _image(latency, "latency ECDF per arm") + "\n"
        "<h2>Outcomes (dots: seeds; bar: mean)</h2>\n" + _image(outcome, "outcomes per arm") + "\n"
        "<h2>Exception backlog over time</h2>\n" + _image(exceptions, "exceptions open over time") + "\n"
        "<h2>ERP backlog over time</h2>\n" + _backlog(summaries) + "\n"
        "<h2>The cost side (dots: seeds; bar: mean)</h2>\n" + _image(cost, "cost per arm")
    )


def _backlog(summaries: Mapping[str, Sequence[dict]]) -> str:
    """The ERP backlog over the whole run and, when every run's peak episode is short, over them."""
    figure = _image(series_png(summaries, "erp_backlog", title="ERP backlog", ylabel="sources not yet in the ERP"),
                    "ERP backlog over time")
    zoom_h = backlog_zoom_h(summaries)
    if zoom_h is None:
        return figure
    zoomed = series_png(summaries, "erp_backlog", title="ERP backlog", ylabel="sources not yet in the ERP",
                        zoom_h=zoom_h)
    return (
        f"{figure}\n<p>The peak, zoomed: hours {zoom_h[0]:,.2f} to {zoom_h[1]:,.2f} after the start of the run, "
        f"covering every run's peak episode (around the moment most of its sources waited, for as long as at "
        f"least {BACKLOG_MATERIAL_SHARE:.0%} of that many waited).</p>\n" + _image(zoomed, "ERP backlog at the peak"))


def write_comparison_html(path: Path, document: Mapping, summaries: Mapping[str, Sequence[dict]],
                          errors: Sequence[Mapping] = ()) -> Path:
    """Write ``comparison.html``.

    Parameters
    ----------
    path
        The file to write.
    document
        `rehearse.reports.fanout.fanout_document` output, optionally with ``wall``.
    summaries
        Arm (in the document's order) -> the run summaries of its completed runs, by seed.
    errors
        ``{arm, seed, error, traceback}`` of runs that raised.
    """
    page = _page(f"rehearse compare: {document['scenario']}", [
        _header(document, "compare", HOW_TO_READ_COMPARISON),
        _comparison_table(document),
        _figures(document, summaries),
        _failed(document),
        _errors(errors),
        _wall(document),
    ])
    path.write_bytes(page)
    return path


def _describe_fault(fault: Mapping) -> str:
    def flat(value: object, prefix: str = "") -> list[str]:
        if isinstance(value, Mapping):
            return [item for key, inner in value.items() for item in flat(inner, f"{prefix}{key}.")]
        return [f"{prefix[:-1]}={value}"]

    return " ".join(item for item in flat(fault) if not item.startswith("name="))


def _distribution(document: Mapping) -> str:
    sections = []
    for arm in document["arms"]:
        rows = []
        for metric in document["metrics"]:
            stats = arm["statistics"][metric["path"]]
            rows.append((metric["label"], stats["n"], *(None if stats[key] is None else _short(stats[key])
                                                        for key in ("mean", "std", "min", "p50", "max"))))
        sections.append(f"<h3>{escape(arm['name'])}: {arm['runs']} runs completed, "
                        f"{arm['passed']} passed all gates</h3>\n"
                        + _table(("metric", "n", "mean", "std", "min", "median", "max"), rows))
    return "<h2>Each metric's distribution over seeds</h2>\n" + "\n".join(sections)


def _seeds(document: Mapping) -> str:
    rows = []
    for row in document["runs"]:
        verdict = "error" if row["error"] else "pass" if row["passed"] else "FAIL"
        faults = row["swarm_faults"]
        drawn = "" if faults is None else ("; ".join(_describe_fault(fault) for fault in faults) or "(none drawn)")
        rows.append((row["arm"], row["seed"], verdict, ", ".join(row["failed_gates"]) or row["error"] or "", drawn))
    return ("<h2>Every run</h2>\n"
            + _table(("arm", "seed", "result", "failed gates / error", "faults drawn (swarm)"), rows))


def write_sweep_html(path: Path, document: Mapping, summaries: Mapping[str, Sequence[dict]],
                     errors: Sequence[Mapping] = ()) -> Path:
    """Write ``sweep.html`` (parameters as for `write_comparison_html`)."""
    values = _values_by_arm(document)
    panels = metric_panels_png(values, COMPARED_METRICS)
    page = _page(f"rehearse sweep: {document['scenario']}", [
        _header(document, "sweep", HOW_TO_READ_SWEEP),
        _failed(document),
        _distribution(document),
        "<h2>Every metric over seeds (dots: seeds; bar: mean)</h2>\n" + _image(panels, "metrics over seeds"),
        "<h2>Latency to the ERP</h2>\n" + _image(latency_overlay_png(summaries), "latency ECDF"),
        "<h2>Exception backlog over time</h2>\n" + _image(
            series_png(summaries, "exceptions_open", title="Exceptions open", ylabel="exceptions open"),
            "exceptions open over time"),
        "<h2>ERP backlog over time</h2>\n" + _backlog(summaries),
        _seeds(document),
        _errors(errors),
        _wall(document),
    ])
    path.write_bytes(page)
    return path
