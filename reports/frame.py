"""The trace as a polars frame: its schema, a builder for hand-made traces, and the split by kind.

Every report reads the trace through `KindFrames`: the trace is filtered once to the kinds the reports
use and split by kind, so each metric works on a small frame instead of rescanning ten million rows.
A ``row_nr`` column (the row's position in the trace) is kept to break ties between rows that share a
timestamp: the trace is written in the order things happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl

from rehearse.sync.trace import COLUMNS

__all__ = ["ROW_NUMBER", "KindFrames", "conform", "trace_frame", "trace_schema"]

ROW_NUMBER = "row_nr"

# The kinds any report reads; others are only counted.
KINDS_READ: tuple[str, ...] = (
    "billing.invoice_finalized",
    "engine.duplicate_dropped",
    "engine.exception_opened",
    "engine.exception_resolved",
    "engine.held",
    "engine.inflight",
    "engine.lookup",
    "engine.posted",
    "engine.queued",
    "engine.rerouted",
    "engine.retry",
    "engine.stale_dropped",
    "engine.superseded",
    "erp.call",
    "erp.document",
    "erp.payment_applied",
    "erp.payment_unapplied",
    "erp.period_closed",
    "oracle.invoice",
    "oracle.payment",
    "payments.charge_succeeded",
    "run.end",
    "run.start",
)


def trace_schema() -> pl.Schema:
    """Return the polars schema of a trace, in the column order of `rehearse.sync.trace.COLUMNS`.

    Returns
    -------
    polars.Schema
        Column name -> dtype.
    """
    return pl.Schema({name: getattr(pl, dtype) for name, dtype, _ in COLUMNS})


def trace_frame(records: Iterable[Mapping[str, object]]) -> pl.DataFrame:
    """Build a trace frame from records, filling every column a record omits with its empty value.

    Meant for tests and small hand-made traces; a run writes its trace as Parquet.

    Parameters
    ----------
    records
        One mapping per row; keys are trace column names.

    Returns
    -------
    polars.DataFrame
        A frame with exactly the trace columns and dtypes.

    Examples
    --------
    >>> trace_frame([{"t_s": 5.0, "kind": "run.end"}]).select("t_s", "kind", "amount_minor")
    shape: (1, 3)
    ┌─────┬─────────┬──────────────┐
    │ t_s ┆ kind    ┆ amount_minor │
    │ --- ┆ ---     ┆ ---          │
    │ f64 ┆ str     ┆ i64          │
    ╞═════╪═════════╪══════════════╡
    │ 5.0 ┆ run.end ┆ 0            │
    └─────┴─────────┴──────────────┘
    """
    rows = [{name: record.get(name, empty) for name, _, empty in COLUMNS} for record in records]
    unknown = sorted({key for record in records for key in record} - set(trace_schema()))
    if unknown:
        raise ValueError(f"not trace columns: {', '.join(unknown)}")
    return pl.DataFrame(rows, schema=trace_schema(), orient="row")


def conform(trace: pl.DataFrame) -> pl.DataFrame:
    """Return the trace with every trace column present and of its trace dtype.

    Missing columns are added with their empty value; extra columns are kept. Casting a column that
    already has the right dtype costs nothing.
    """
    schema = trace_schema()
    missing = [
        pl.lit(empty, dtype=schema[name]).alias(name)
        for name, _, empty in COLUMNS
        if name not in trace.columns
    ]
    if missing:
        trace = trace.with_columns(missing)
    casts = [pl.col(name).cast(dtype) for name, dtype in schema.items() if trace.schema[name] != dtype]
    return trace.with_columns(casts) if casts else trace


class KindFrames:
    """The rows of one trace split by kind, plus the run's start and cut-off.

    Parameters
    ----------
    trace
        A trace frame (see `rehearse.sync.trace`).

    Attributes
    ----------
    cutoff_t_s
        The ``t_s`` of the last ``run.end`` row, or the largest ``t_s`` when there is none (0.0 for an
        empty trace).
    start_t_s
        The ``t_s`` of the first ``run.start`` row, or the smallest non-zero ``t_s`` when there is
        none (0 means "not set" in the trace).
    counts
        Rows per kind, sorted by kind (columns ``kind``, ``count``).
    row_count
        Rows in the trace.
    """

    def __init__(self, trace: pl.DataFrame) -> None:
        trace = conform(trace)
        wanted = trace.with_row_index(ROW_NUMBER).filter(pl.col("kind").is_in(KINDS_READ))
        self._empty = wanted.clear()
        self._parts = {key[0]: part for key, part in wanted.partition_by("kind", as_dict=True).items()}
        self.counts = (
            trace.group_by("kind").agg(pl.len().alias("count")).sort("kind")
        )
        self.row_count = trace.height
        self.cutoff_t_s = _cutoff_t_s(trace, self.get("run.end"))
        self.start_t_s = _start_t_s(trace, self.get("run.start"))

    def get(self, kind: str) -> pl.DataFrame:
        """Return the rows of one kind in trace order (an empty frame when there are none)."""
        if kind not in KINDS_READ:
            raise KeyError(f"{kind!r} is not a kind the reports read; add it to KINDS_READ")
        return self._parts.get(kind, self._empty)


def _cutoff_t_s(trace: pl.DataFrame, run_end: pl.DataFrame) -> float:
    if run_end.height:
        return float(run_end["t_s"][-1])
    return float(trace["t_s"].max() or 0.0)


def _start_t_s(trace: pl.DataFrame, run_start: pl.DataFrame) -> float:
    if run_start.height:
        return float(run_start["t_s"][0])
    set_t_s = trace["t_s"].filter(trace["t_s"] > 0)
    return float(set_t_s.min() or 0.0) if set_t_s.len() else 0.0
