"""Safety and liveness metrics from the trace."""

from rehearse.reports import compute_metrics
from rehearse.reports.testing import run_rows
from rehearse.reports.frame import trace_frame


def metrics_of(records, gates=None):
    return compute_metrics(trace_frame(records), scenario="t", seed=1, pattern="p", gates=gates or {})


def test_a_clean_drained_run_converges_and_reports_the_time_it_took():
    records = [*run_rows(1000.0, 9000.0), {"t_s": 5000.0, "kind": "run.healed"}]
    for record in records:
        if record["kind"] == "run.end":
            record["code"] = "drained"
    metrics = metrics_of(records, {"converged_min": 1, "time_to_converge_s_max": 5000})
    assert metrics["safety"] == {"violations": 0, "by_invariant": [], "first_violation": None}
    assert metrics["liveness"] == {"healed_t_s": 5000.0, "drained": True, "converged": 1,
                                   "time_to_converge_s": 4000.0}
    assert metrics["passed"]


def test_the_first_violation_is_the_earliest_and_counts_are_per_invariant():
    records = [*run_rows(1000.0, 9000.0),
               {"t_s": 3000.0, "kind": "safety.violation", "object_id": "in_2", "code": "I13", "detail": "second"},
               {"t_s": 2000.0, "kind": "safety.violation", "object_id": "in_1", "code": "I13", "detail": "first"},
               {"t_s": 2500.0, "kind": "safety.violation", "object_id": "in_9", "code": "I4", "detail": "over"}]
    metrics = metrics_of(records, {"safety_violations_max": 0})
    safety = metrics["safety"]
    assert safety["violations"] == 3
    assert safety["by_invariant"] == [{"id": "I13", "count": 2}, {"id": "I4", "count": 1}]
    assert safety["first_violation"] == {"id": "I13", "t_s": 2000.0, "object_id": "in_1", "detail": "first"}
    assert not metrics["passed"]


def test_a_run_stopped_by_its_drain_limit_has_not_converged():
    records = [*run_rows(1000.0, 9000.0), {"t_s": 5000.0, "kind": "run.healed"}]
    for record in records:
        if record["kind"] == "run.end":
            record["code"] = "drain_limit"
    metrics = metrics_of(records, {"converged_min": 1})
    assert metrics["liveness"]["converged"] == 0 and metrics["liveness"]["time_to_converge_s"] is None
    assert not metrics["passed"]


def test_a_run_that_never_converged_fails_its_time_to_converge_gate():
    """Null there means "never", not "nothing to measure" as for a latency without samples."""
    records = [*run_rows(1000.0, 9000.0), {"t_s": 5000.0, "kind": "run.healed"}]
    records[-2]["code"] = "drain_limit"
    metrics = metrics_of(records, {"time_to_converge_s_max": 3600, "invoice_to_erp_p95_s_max": 60})
    assert [(gate["name"], gate["value"], gate["passed"]) for gate in metrics["gates"]] == [
        ("invoice_to_erp_p95_s_max", None, True), ("time_to_converge_s_max", None, False)]
    assert not metrics["passed"]


def test_the_fault_table_counts_what_each_kind_hit_and_what_got_through():
    records = [
        *run_rows(1000.0, 9000.0),
        {"t_s": 2000.0, "kind": "fault.injected", "object_id": "in_1", "code": "throttle"},
        {"t_s": 2100.0, "kind": "fault.injected", "object_id": "in_1", "code": "throttle"},
        {"t_s": 2200.0, "kind": "fault.injected", "object_id": "ch_1", "code": "throttle"},
        {"t_s": 2300.0, "kind": "fault.injected", "object_id": "sub_1", "code": "webhook_drop"},
        {"t_s": 1500.0, "kind": "engine.queued", "object_id": "in_1", "code": "invoice"},
        {"t_s": 1500.0, "kind": "engine.queued", "object_id": "ch_1", "code": "payment"},
        {"t_s": 3000.0, "kind": "engine.posted", "object_id": "in_1", "code": "invoice", "value": 3.0},
    ]
    table = metrics_of(records)["faults"]
    assert table == [
        {"kind": "throttle", "injected": 3, "affected": 2, "affected_postings": 2, "recovered": 1,
         "first_t_s": 2000.0, "last_t_s": 2200.0},
        {"kind": "webhook_drop", "injected": 1, "affected": 1, "affected_postings": 0, "recovered": 0,
         "first_t_s": 2300.0, "last_t_s": 2300.0},
    ]


def test_an_id_the_fault_hit_after_it_was_posted_was_never_at_risk():
    """A duplicate of an invoice's event after its invoice was posted counted as an affected posting,
    and as recovered, though nothing was ever at risk."""
    records = [
        *run_rows(1000.0, 9000.0),
        {"t_s": 1500.0, "kind": "engine.queued", "object_id": "in_1", "code": "invoice"},
        {"t_s": 1600.0, "kind": "engine.posted", "object_id": "in_1", "code": "invoice", "value": 1.0},
        {"t_s": 2000.0, "kind": "fault.injected", "object_id": "in_1", "code": "webhook_duplicate"},
        {"t_s": 1500.0, "kind": "engine.queued", "object_id": "in_2", "code": "invoice"},
        {"t_s": 2000.0, "kind": "fault.injected", "object_id": "in_2", "code": "webhook_duplicate"},
        {"t_s": 2000.0, "kind": "engine.posted", "object_id": "in_2", "code": "invoice", "value": 1.0},
    ]
    [row] = metrics_of(records)["faults"]
    assert (row["affected"], row["affected_postings"], row["recovered"]) == (2, 1, 1)


def test_recovery_is_measured_from_each_window_end_back_to_the_starting_backlog():
    import polars as pl

    from rehearse.reports.faults import recovery_table

    windows = pl.DataFrame({"kind": ["outage"], "name": [""], "start_t_s": [100.0], "end_t_s": [300.0]})
    backlog = pl.DataFrame({
        "t_s": [0.0, 100.0, 200.0, 300.0, 400.0, 500.0, 600.0],
        "invoices_waiting": [2, 2, 9, 12, 6, 2, 1],
        "payments_waiting": [0, 0, 1, 1, 1, 0, 0],
    })
    assert recovery_table(windows, backlog) == [{
        "kind": "outage", "start_t_s": 100.0, "end_t_s": 300.0, "backlog_at_start": 2, "backlog_peak": 13,
        "recovery_s": 200.0,
    }]
    never = backlog.with_columns(pl.lit(50).alias("payments_waiting").cast(pl.Int64)).with_columns(
        pl.when(pl.col("t_s") <= 100.0).then(0).otherwise(50).alias("payments_waiting"))
    assert recovery_table(windows, never)[0]["recovery_s"] is None


def test_unapplied_cash_is_the_share_of_payment_amounts_left_unapplied():
    records = [
        *run_rows(1000.0, 9000.0),
        {"t_s": 2000.0, "kind": "erp.payment_applied", "object_id": "9", "parent_id": "in_1", "amount_minor": 750},
        {"t_s": 2000.0, "kind": "erp.payment_unapplied", "object_id": "9", "amount_minor": 250},
        {"t_s": 2100.0, "kind": "erp.payment_applied", "object_id": "10", "parent_id": "in_2", "amount_minor": 1000},
    ]
    assert metrics_of(records)["resilience"]["unapplied_cash_share"] == 0.125


def test_unapplied_cash_is_a_share_per_currency_and_the_worst_counts():
    """Minor units of IDR and USD do not add up: 10,000,000 IDR unapplied beside 10,000 USD
    applied is all of the IDR and none of the USD, not 0.999 of everything."""
    records = [
        *run_rows(1000.0, 9000.0),
        {"t_s": 2000.0, "kind": "erp.payment_applied", "object_id": "9", "currency": "USD", "amount_minor": 10_000},
        {"t_s": 2000.0, "kind": "erp.payment_applied", "object_id": "10", "currency": "IDR", "amount_minor": 0},
        {"t_s": 2000.0, "kind": "erp.payment_unapplied", "object_id": "10", "currency": "IDR",
         "amount_minor": 10_000_000},
        {"t_s": 2100.0, "kind": "erp.payment_applied", "object_id": "11", "currency": "IDR",
         "amount_minor": 10_000_000},
    ]
    assert metrics_of(records)["resilience"]["unapplied_cash_share"] == 0.5
    settled = {"t_s": 3000.0, "kind": "erp.payment_unapplied", "object_id": "10", "currency": "IDR", "amount_minor": 0}
    assert metrics_of([*records, settled])["resilience"]["unapplied_cash_share"] == 0.0
