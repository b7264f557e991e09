"""Resilience: how hard the engine had to work, and what it left for people (DOMAIN.md 11).

Counts of rows unless said otherwise; "distinct" counts are of external ids (``object_id``), so a
posting retried ten times is still one posting.
"""

from __future__ import annotations

from typing import cast

import polars as pl

from rehearse.reports.frame import ROW_NUMBER, KindFrames
from rehearse.reports.latency import backlog_peak_span, backlog_total_changes

__all__ = ["AGE_BUCKETS", "erp_concurrency_peak", "exception_moves", "open_exceptions", "resilience_metrics"]

SECONDS_PER_DAY = 86_400.0
# (label, upper bound in days, exclusive); the last bucket is unbounded.
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("0-1d", 1.0),
    ("1-3d", 3.0),
    ("3-7d", 7.0),
    (">7d", float("inf")),
)
ERP_CONCURRENCY_REJECTION_CODE = "429"


def _rate(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def exception_moves(frames: KindFrames) -> pl.DataFrame:
    """Every opening and resolution of an exception, in trace order, with whether that external
    id's exception was open just before.

    An exception opens at an ``engine.exception_opened`` row when it was not open already, and
    closes at the next ``engine.exception_resolved`` row.

    Returns
    -------
    polars.DataFrame
        ``t_s``, ``object_id``, ``open`` (True for an opening row) and ``was_open``.
    """
    moves = pl.concat([
        frames.get("engine.exception_opened").select(ROW_NUMBER, "t_s", "object_id", pl.lit(True).alias("open")),
        frames.get("engine.exception_resolved").select(ROW_NUMBER, "t_s", "object_id", pl.lit(False).alias("open")),
    ]).sort(ROW_NUMBER)
    return moves.with_columns(pl.col("open").shift(1).over("object_id").fill_null(False).alias("was_open")).drop(
        ROW_NUMBER)


def resolution_times_s(frames: KindFrames) -> pl.Series:
    """How long each resolved exception was open (seconds), from the opening that started it to
    the resolution that closed it, in the order of the resolutions."""
    moves = exception_moves(frames)
    started = pl.when(pl.col("open") & ~pl.col("was_open")).then(pl.col("t_s"))
    return (
        moves.with_columns(started.forward_fill().over("object_id").alias("opened_t_s"))
        .filter(~pl.col("open") & pl.col("was_open"))
        .select((pl.col("t_s") - pl.col("opened_t_s")).alias("resolve_s"))
        .to_series()
    )


def open_exceptions(frames: KindFrames) -> pl.DataFrame:
    """Exceptions open at the cut-off, with their age.

    An external id's exception is open when it was opened after its last resolution (in trace
    order); its age counts from the first opening since that resolution.

    Parameters
    ----------
    frames
        The trace split by kind.

    Returns
    -------
    polars.DataFrame
        ``object_id``, ``reason`` (code), ``owner`` (detail), ``opened_t_s``, ``age_s`` and
        ``age_bucket``, sorted by object id.
    """
    cutoff_t_s = frames.cutoff_t_s
    opened = frames.get("engine.exception_opened").filter(pl.col("t_s") <= cutoff_t_s)
    resolved = (
        frames.get("engine.exception_resolved")
        .filter(pl.col("t_s") <= cutoff_t_s)
        .group_by("object_id")
        .agg(pl.col(ROW_NUMBER).max().alias("resolved_row_nr"))
    )
    bucket = pl.lit(AGE_BUCKETS[-1][0])
    for label, days_max in reversed(AGE_BUCKETS[:-1]):
        bucket = (
            pl.when(pl.col("age_s") < days_max * SECONDS_PER_DAY)
            .then(pl.lit(label))
            .otherwise(bucket)
        )
    first = pl.col(ROW_NUMBER).arg_min()
    return (
        opened.join(resolved, on="object_id", how="left")
        .filter(
            pl.col("resolved_row_nr").is_null() | (pl.col(ROW_NUMBER) > pl.col("resolved_row_nr"))
        )
        .group_by("object_id")
        .agg(
            pl.col("code").get(first).alias("reason"),
            pl.col("detail").get(first).alias("owner"),
            pl.col("t_s").min().alias("opened_t_s"),
        )
        .with_columns((cutoff_t_s - pl.col("opened_t_s")).alias("age_s"))
        .with_columns(bucket.alias("age_bucket"))
        .sort("object_id")
    )


def _exceptions(frames: KindFrames) -> dict:
    still_open = open_exceptions(frames)
    per_bucket = dict(still_open.group_by("age_bucket").len().iter_rows())
    by_reason = still_open.group_by("reason").agg(pl.len().alias("count")).sort("reason").to_dicts()
    resolve_s = resolution_times_s(frames)
    return {
        "exceptions_opened": frames.get("engine.exception_opened")["object_id"].n_unique(),
        "exceptions_open": still_open.height,
        "exceptions_by_age": [
            {"bucket": label, "count": int(per_bucket.get(label, 0))} for label, _ in AGE_BUCKETS
        ],
        "exceptions_open_by_reason": by_reason,
        "exceptions_resolved": resolve_s.len(),
        # None when nothing was resolved: a mean of nothing is not 0
        "exception_resolve_s_mean": cast(float, resolve_s.mean()) if resolve_s.len() else None,
        "exception_resolve_s_max": cast(float, resolve_s.max()) if resolve_s.len() else None,
    }


def resilience_metrics(frames: KindFrames) -> dict:
    """Compute the resilience metrics.

    Parameters
    ----------
    frames
        The trace split by kind.

    Returns
    -------
    dict
        ``erp_calls``, ``erp_calls_by_code`` (``{code, count}`` sorted by code), ``retries``,
        ``postings`` (distinct queued), ``posted`` (rows), ``failed_posting_rate`` (distinct
        external ids whose automatic posting ended in the exception queue, whether a person
        resolved it later or not, / those ids and the queued ones), ``first_pass_rate`` (posted
        on attempt 1 / posted), ``retries_per_posting`` (rates are 0.0 when the denominator is 0),
        ``exceptions_opened`` (distinct), ``exceptions_open`` (at the cut-off),
        ``exceptions_by_age`` (``{bucket, count}`` in bucket order: age < 1 d, < 3 d, < 7 d, >= 7
        d), ``exceptions_open_by_reason``, ``exceptions_resolved`` (by a person: the operator's
        replays) with ``exception_resolve_s_mean`` and ``exception_resolve_s_max`` (seconds from
        opening to resolution, None when none was resolved), ``duplicates_dropped``, ``stale_dropped``, ``superseded``
        and ``lookups`` (rows), ``held`` and ``late_postings`` (distinct ``engine.held`` /
        ``engine.rerouted``), ``erp_concurrency_rejections`` (``erp.call`` with code 429),
        ``erp_calls_per_posting``, ``erp_concurrency_peak`` (see `erp_concurrency_peak`),
        ``duplicate_creates`` (calls answered DUP_RCRD) and
        ``missing_references`` (calls answered INVALID_KEY_OR_REF), ``unapplied_cash_share``
        (unapplied / all ERP payment amounts, per currency, the worst), ``erp_backlog_peak`` (the
        most invoices and payments waiting for their ERP document at once) and
        ``erp_backlog_peak_s`` (seconds from
        the start of that peak's episode until fewer than 1% of that many wait, the cut-off if
        never; None when nothing waited).
    """
    calls = frames.get("erp.call")
    posted = frames.get("engine.posted")
    queued = frames.get("engine.queued")["object_id"].unique()
    postings = queued.len()
    retries = frames.count("engine.retry")
    failed_ids = frames.get("engine.exception_opened")["object_id"].unique()
    failed = failed_ids.len()
    # A posting can fail before it was ever queued (p2p raises an invoice without tax at once): it
    # is a posting all the same, so the rate's denominator counts it and the rate stays within 1.
    attempted = pl.concat([queued, failed_ids]).n_unique()
    first_pass = posted.filter(pl.col("value") == 1).height
    calls_by_code = calls.group_by("code").agg(pl.len().alias("count")).sort("code")
    return {
        "erp_calls": calls.height,
        "erp_calls_by_code": calls_by_code.to_dicts(),
        "retries": retries,
        "postings": postings,
        "posted": posted.height,
        "failed_posting_rate": _rate(failed, attempted),
        "first_pass_rate": _rate(first_pass, posted.height),
        "retries_per_posting": _rate(retries, postings),
        **_exceptions(frames),
        "duplicates_dropped": frames.count("engine.duplicate_dropped"),
        "stale_dropped": frames.count("engine.stale_dropped"),
        "superseded": frames.count("engine.superseded"),
        "lookups": frames.count("engine.lookup"),
        "held": frames.get("engine.held")["object_id"].n_unique(),
        "late_postings": frames.get("engine.rerouted")["object_id"].n_unique(),
        "erp_concurrency_rejections": calls.filter(
            pl.col("code") == ERP_CONCURRENCY_REJECTION_CODE
        ).height,
        "erp_calls_per_posting": _rate(calls.height, postings),
        "erp_concurrency_peak": erp_concurrency_peak(calls),
        # Answers that show what the engine sent, not what the ERP suffered: a create the ERP
        # already had (the engine lost track or posted twice), a reference it did not have yet.
        "duplicate_creates": calls.filter(pl.col("code") == "DUP_RCRD").height,
        "missing_references": calls.filter(pl.col("code") == "INVALID_KEY_OR_REF").height,
        "unapplied_cash_share": _unapplied_share(frames),
        **_backlog_peak(frames),
    }


def _backlog_peak(frames: KindFrames) -> dict:
    """The most sources waiting for the ERP at once, and how long its peak episode lasted (see
    `rehearse.reports.latency.backlog_peak_span`): how long the ERP took to catch up."""
    changes = backlog_total_changes(frames)
    peak = int(cast(int | None, changes["erp_backlog"].max()) or 0) if changes.height else 0  # a count column
    span = backlog_peak_span(frames)
    return {"erp_backlog_peak": peak, "erp_backlog_peak_s": None if span is None else span[1] - span[0]}


# Call ends are traced as `t_s` and starts recomputed as `t_s - value`: a float subtraction that can
# miss the exact start by an ulp. Rounding both to a microsecond keeps a call that starts the moment
# another ends from counting as overlapping it.
CALL_TIME_DECIMALS = 6


def erp_concurrency_peak(calls: pl.DataFrame) -> int:
    """The most ERP calls in flight at once: the load the engine put on the ERP.

    Each ``erp.call`` row is traced when the call ends, with its latency in ``value``; the call was
    in flight over ``[t_s - value, t_s)``. Every call counts, refused ones (429, 503, a connect
    timeout) included: a pattern that floods the ERP shows a peak above the ERP's concurrency limit.

    Parameters
    ----------
    calls
        ``erp.call`` rows with ``t_s`` and ``value``.

    Returns
    -------
    int
        The peak (0 without calls).
    """
    if calls.height == 0:
        return 0
    end = pl.col("t_s").round(CALL_TIME_DECIMALS)
    start = (pl.col("t_s") - pl.col("value")).round(CALL_TIME_DECIMALS)
    changes = pl.concat([
        calls.select(start.alias("at_s"), pl.lit(1, dtype=pl.Int64).alias("delta")),
        calls.select(end.alias("at_s"), pl.lit(-1, dtype=pl.Int64).alias("delta")),
    ])
    # At equal times the ends (-1) come first: [start, end) intervals that touch do not overlap.
    in_flight = changes.sort("at_s", "delta")["delta"].cum_sum()
    return int(cast(int, in_flight.max()))  # a running sum of +1s and -1s


def _unapplied_share(frames: KindFrames) -> float:
    """Unapplied cash (DOMAIN.md section 11): unapplied / all payment amounts in the ERP, per
    currency (amounts of different currencies do not add up), the worst currency's share."""
    applied = frames.get("erp.payment_applied").group_by("currency").agg(pl.col("amount_minor").sum().alias("applied"))
    # Each payment's latest unapplied amount (a reversal sets it back to 0).
    unapplied = (
        frames.get("erp.payment_unapplied").group_by("object_id").agg(pl.col("currency", "amount_minor").last())
        .group_by("currency").agg(pl.col("amount_minor").sum().alias("unapplied"))
    )
    shares = (
        applied.join(unapplied, on="currency", how="full", coalesce=True)
        .with_columns(pl.col("applied", "unapplied").fill_null(0))
        .filter((pl.col("applied") + pl.col("unapplied")) != 0)
        .select((pl.col("unapplied") / (pl.col("applied") + pl.col("unapplied"))).alias("share"))
    )
    worst = cast(float | None, shares["share"].max())  # a float column's max: a float, or None when empty
    return float(worst) if worst is not None else 0.0
