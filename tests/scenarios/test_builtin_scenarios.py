"""The built-in scenarios pass their gates with nothing missing and nothing duplicated."""

import json

import pytest

from rehearse.sim import runner
from rehearse.sim.scenario import load


def _assert_clean(metrics: dict) -> None:
    assert metrics["passed"], [g for g in metrics["gates"] if not g["passed"]]
    for name in ("invoices", "payments"):
        row = metrics["reconciliation"][name]
        assert row["expected"] > 0
        assert row["missing"] == row["duplicated"] == row["mismatched"] == row["orphaned"] == 0
    assert metrics["reconciliation"]["accuracy"] == 1.0
    assert all(item["holds"] for item in metrics["reconciliation"]["invariants"])


def test_smoke_passes_with_nothing_missing_or_duplicated(smoke_run):
    _assert_clean(smoke_run.metrics)
    written = json.loads((smoke_run.out_dir / "metrics.json").read_text())
    assert written["scenario"] == "smoke" and written["pattern"] == "orchestrated"
    assert set(p.name for p in smoke_run.out_dir.iterdir()) == {"metrics.json", "report.html", "trace.parquet"}


def test_smoke_exercises_duplicates_reordering_holds_and_dunning(smoke_run):
    resilience = smoke_run.metrics["resilience"]
    assert resilience["duplicates_dropped"] > 0
    assert resilience["stale_dropped"] > 0  # paid arrived before finalized
    assert resilience["held"] > 0  # payments waited for their invoices
    kinds = set(smoke_run.trace["kind"].unique())
    assert {"billing.invoice_payment_failed", "crm.deal_won", "crm.deal_amended"} <= kinds


@pytest.mark.slow
def test_month_end_passes_with_nothing_missing_or_duplicated():
    scenario, _ = load("month-end")
    result = runner.run(scenario, scenario.run.seed)
    _assert_clean(result.metrics)
    assert result.metrics["reconciliation"]["invoices"]["expected"] > 20_000
    assert result.metrics["resilience"]["erp_concurrency_rejections"] > 0  # the cap was reached


def test_a_backlog_across_the_close_is_posted_late_into_the_next_period(tmp_path):
    """E11: invoices finalized on Jan 31 that reach the ERP after January closed land in February,
    keep their dates, and are counted as late; I14 holds."""
    scenario, _ = load("smoke", [
        'run.start="2026-01-31T20:00:00Z"', "run.traffic_days=0.5", "traffic.subscriptions=300",
        "traffic.anchor_first_share=0", "billing.finalize_delay_s=0",
        'erp.period_closes=[{period="2026-01", at="2026-01-31T20:00:30Z"}]',
        "erp.concurrency_limit=1", "engine.concurrency=1", "erp.latency_ms_p50=2000", "erp.latency_ms_p95=4000",
    ])
    result = runner.run(scenario, 5)
    metrics = result.metrics
    assert metrics["resilience"]["late_postings"] > 0
    _assert_clean(metrics)


def test_a_returned_debit_without_dunning_retries_ends_the_invoice_at_once():
    """Billing's path for a bank return when the scenario gives no dunning retries: the reopened
    invoice is exhausted there and then, and the ERP still reverses every returned payment."""
    scenario, _ = load("payment-faults", ["billing.dunning_retry_days=[]"])
    result = runner.run(scenario, scenario.run.seed)
    trace = result.trace
    reopened = set(trace.filter(kind="billing.invoice_reopened")["object_id"])
    assert reopened and reopened <= set(trace.filter(kind="billing.invoice_uncollectible")["object_id"])
    assert trace.filter(kind="erp.payment_reversed").height == trace.filter(kind="payments.charge_reversed").height
    assert result.metrics["passed"], [gate for gate in result.metrics["gates"] if not gate["passed"]]


GAP_FILL_REVERSALS = '''
extends = "payment-faults"
name = "gap-fill-reversals"

[run]
traffic_days = 12.0
drain_limit_days = 3.0

[[faults]]
kind = "ach_failure"
probability = 0.3
return_after_days = 3.0

[[faults]]
kind = "receiver_down"
window = { start = "2026-02-03T12:00:00Z", end = "2026-02-09T12:00:00Z" }
'''


def test_gap_fill_finds_returned_debits_whose_webhooks_cannot_arrive(tmp_path):
    """The bank returns debits while the engine's endpoint is down for six days, longer than billing
    retries: only the orchestrated engine's gap-fill, listing billing's charges, can post those
    reversals, and it does while the endpoint is still down."""
    path = tmp_path / "gap-fill-reversals.toml"
    path.write_text(GAP_FILL_REVERSALS)
    scenario, _ = load(str(path))
    result = runner.run(scenario, scenario.run.seed)
    trace = result.trace
    assert trace.filter(kind="webhook.lost").height > 0
    down_from, down_to = (scenario.faults[-1].window.start_s, scenario.faults[-1].window.end_s)
    reversals = trace.filter(kind="engine.posted", code="reversal")
    assert reversals.filter((reversals["t_s"] >= down_from) & (reversals["t_s"] < down_to)).height > 0
    row = result.metrics["reconciliation"]["reversals"]
    assert row["expected"] == row["matched"] > 0 and row["missing"] == row["duplicated"] == 0
