"""Resilience counts, rates and exception aging."""

from __future__ import annotations

from rehearse.reports import compute_metrics, trace_frame
from rehearse.reports.testing import invoice_rows, run_rows

DAY_S = 86_400.0
CUTOFF_T_S = 100 * DAY_S


def resilience_of(records: list[dict]) -> dict:
    trace = trace_frame([*run_rows(0.0, CUTOFF_T_S), *records])
    return compute_metrics(trace, scenario="t", seed=1, pattern="p", gates={})["resilience"]


def row(kind: str, object_id: str = "", t_s: float = 1.0, **columns) -> dict:
    return {"t_s": t_s, "kind": kind, "object_id": object_id, **columns}


def opened(object_id: str, age_days: float, reason: str = "CLOSED_TRAN_PRD") -> dict:
    return row(
        "engine.exception_opened",
        object_id,
        CUTOFF_T_S - age_days * DAY_S,
        code=reason,
        detail="ar-team",
    )


def test_exceptions_open_at_the_cut_off_by_age_bucket():
    resilience = resilience_of(
        [
            opened("x_half_day", 0.5),
            opened("x_one_day", 1.0),  # a bucket's upper bound is exclusive
            opened("x_two_days", 2.0),
            opened("x_five_days", 5.0, reason="INVALID_KEY_OR_REF"),
            opened("x_ten_days", 10.0),
            opened("x_resolved", 20.0),
            row("engine.exception_resolved", "x_resolved", CUTOFF_T_S - DAY_S, code="replayed"),
            # reopened after its resolution: open, aged from the reopening
            opened("x_reopened", 30.0),
            row("engine.exception_resolved", "x_reopened", CUTOFF_T_S - 25 * DAY_S),
            opened("x_reopened", 0.25),
            opened("x_reopened", 0.1),  # raised again while open: still aged from 0.25 d
            # resolved after the cut-off: still open at the cut-off
            opened("x_late_fix", 4.0),
            row("engine.exception_resolved", "x_late_fix", CUTOFF_T_S + DAY_S),
        ]
    )
    assert resilience["exceptions_opened"] == 8
    assert resilience["exceptions_open"] == 7
    assert resilience["exceptions_by_age"] == [
        {"bucket": "0-1d", "count": 2},
        {"bucket": "1-3d", "count": 2},
        {"bucket": "3-7d", "count": 2},
        {"bucket": ">7d", "count": 1},
    ]
    assert resilience["exceptions_open_by_reason"] == [
        {"reason": "CLOSED_TRAN_PRD", "count": 6},
        {"reason": "INVALID_KEY_OR_REF", "count": 1},
    ]


def test_posting_counts_and_rates():
    resilience = resilience_of(
        [
            *[row("engine.queued", f"x_{n}", code="invoice") for n in range(4)],
            row("engine.queued", "x_0", code="invoice"),  # queued again: still one posting
            row("engine.retry", "x_1", code="503", value=2.0),
            row("engine.retry", "x_1", code="503", value=4.0),
            row("engine.posted", "x_0", value=1.0),
            row("engine.posted", "x_1", value=3.0),
            row("engine.posted", "x_2", value=1.0),
            opened("x_3", 1.0),
            opened("x_3", 0.5),
            row("erp.call", "x_0", code="200"),
            row("erp.call", "x_1", code="429"),
            row("erp.call", "x_1", code="503"),
            row("erp.call", "x_1", code="429"),
            row("engine.duplicate_dropped", "ev_1"),
            row("engine.held", "x_2", parent_id="x_0"),
            row("engine.held", "x_2", parent_id="x_0"),
            row("engine.rerouted", "x_2", period="2024-02", detail="2024-01"),
        ]
    )
    assert resilience["postings"] == 4
    assert resilience["posted"] == 3
    assert resilience["retries"] == 2
    assert resilience["failed_posting_rate"] == 0.25
    assert resilience["first_pass_rate"] == 0.666667  # rounded to 6 decimals
    assert resilience["retries_per_posting"] == 0.5
    assert resilience["erp_calls"] == 4
    assert resilience["erp_calls_by_code"] == [
        {"code": "200", "count": 1},
        {"code": "429", "count": 2},
        {"code": "503", "count": 1},
    ]
    assert resilience["erp_concurrency_rejections"] == 2
    assert resilience["duplicates_dropped"] == 1
    assert resilience["held"] == 1
    assert resilience["late_postings"] == 1


def test_a_posting_raised_before_it_was_queued_counts_and_the_failed_rate_stays_within_one():
    """p2p raises an invoice without tax at once, never queuing it (the rate was 3.0 here)."""
    resilience = resilience_of([
        row("engine.queued", "x_0", code="invoice"),
        *[opened(f"in_{n}", 1.0) for n in range(3)],
    ])
    assert resilience["postings"] == 1 and resilience["failed_posting_rate"] == 0.75


def test_rates_are_zero_without_postings():
    resilience = resilience_of([])
    assert resilience["failed_posting_rate"] == 0.0
    assert resilience["first_pass_rate"] == 0.0
    assert resilience["retries_per_posting"] == 0.0
    assert resilience["exceptions_by_age"] == [
        {"bucket": bucket, "count": 0} for bucket in ("0-1d", "1-3d", "3-7d", ">7d")
    ]


def test_erp_concurrency_peak_counts_calls_in_flight_at_once():
    # Calls end at t_s after value seconds: [0, 4), [1, 3), [2, 5) overlap at 2..3; [5, 6) starts
    # the moment [2, 5) ends and does not overlap it; 0.1 + 0.2 ends a hair off 0.3 in floats.
    calls = [
        row("erp.call", "a", t_s=4.0, code="200", value=4.0),
        row("erp.call", "b", t_s=3.0, code="429", value=2.0),
        row("erp.call", "c", t_s=5.0, code="200", value=3.0),
        row("erp.call", "d", t_s=6.0, code="200", value=1.0),
        row("erp.call", "e", t_s=0.1 + 0.2, code="200", value=0.2),
        row("erp.call", "f", t_s=0.1, code="200", value=0.1),
    ]
    assert resilience_of(calls)["erp_concurrency_peak"] == 3
    assert resilience_of(calls[3:4])["erp_concurrency_peak"] == 1
    assert resilience_of([])["erp_concurrency_peak"] == 0


def test_the_backlog_peak_and_how_long_it_took_to_clear():
    # 300 invoices at t=50,000 reach the ERP one a second: under 1% of 300 wait from 50,298
    records = [row for number in range(1, 301)
                for row in invoice_rows(f"in_{number:03d}", finalized_t_s=50_000.0, erp_t_s=50_000.0 + number)]
    resilience = resilience_of(records)
    assert (resilience["erp_backlog_peak"], resilience["erp_backlog_peak_s"]) == (300, 298.0)
    empty = resilience_of([])
    assert (empty["erp_backlog_peak"], empty["erp_backlog_peak_s"]) == (0, None)


def resolved(object_id: str, t_s: float) -> dict:
    return row("engine.exception_resolved", object_id, t_s, code="replayed")


def opened_at(object_id: str, t_s: float) -> dict:
    return row("engine.exception_opened", object_id, t_s, code="permanent", detail="ar-operations")


def test_time_to_resolve_runs_from_the_opening_that_started_an_exception_to_its_resolution():
    resilience = resilience_of([
        opened_at("a", 1 * DAY_S),
        opened_at("a", 2 * DAY_S),  # opened again while open: the clock runs from day 1
        resolved("a", 4 * DAY_S),  # 3 days
        resolved("a", 5 * DAY_S),  # nothing open: no resolution
        opened_at("a", 10 * DAY_S),
        resolved("a", 11 * DAY_S),  # 1 day
        opened_at("b", 6 * DAY_S),  # still open at the cut-off: not resolved
    ])
    assert resilience["exceptions_resolved"] == 2
    assert resilience["exception_resolve_s_mean"] == 2 * DAY_S
    assert resilience["exception_resolve_s_max"] == 3 * DAY_S
    assert resilience["exceptions_open"] == 1


def test_time_to_resolve_is_none_when_nothing_was_resolved():
    resilience = resilience_of([opened_at("a", 1.0)])
    assert resilience["exceptions_resolved"] == 0
    assert resilience["exception_resolve_s_mean"] is None and resilience["exception_resolve_s_max"] is None
