"""Each sync pattern on a small scenario: what it gets right with no faults, and the weakness the
matching fault exposes (the reason architects compare them)."""

from __future__ import annotations

import json

import pytest

from rehearse.sim import runner
from rehearse.sim.scenario import load

PATTERNS = ["p2p", "batch", "event"]


def _run(name: str, pattern: str, *overrides: str) -> dict:
    scenario, _ = load(name, [f'engine.pattern="{pattern}"', *overrides])
    return runner.run(scenario, scenario.run.seed)


def _failed(metrics: dict) -> set[str]:
    return {gate["name"] for gate in metrics["gates"] if not gate["passed"]}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_each_pattern_posts_smoke_exactly_once(pattern):
    result = _run("smoke", pattern)
    metrics = result.metrics
    assert metrics["pattern"] == pattern
    recon = metrics["reconciliation"]
    for name in ("invoices", "payments"):
        row = recon[name]
        assert row["expected"] > 500
        assert row["matched"] == row["expected"] and row["duplicated"] == row["orphaned"] == 0
    assert all(item["holds"] for item in recon["invariants"])
    assert metrics["safety"]["violations"] == 0 and metrics["liveness"]["converged"] == 1
    # smoke duplicates 2% of webhooks: none of them turned into a second document
    assert result.trace.filter(kind="webhook.duplicated").height > 0


def test_p2p_survives_a_crash_because_the_sender_retries_what_it_did_not_acknowledge():
    metrics = _run("engine-crash", "p2p").metrics
    assert metrics["reconciliation"]["missing"] == metrics["reconciliation"]["duplicated"] == 0


def test_p2p_holds_the_senders_request_so_a_busy_erp_turns_into_failed_deliveries():
    result = _run("small-peak", "p2p")
    failed = result.trace.filter(kind="webhook.failed")
    assert failed.filter(code="timeout").height > 0  # waited for a worker and the ERP past 20 s
    assert failed.filter(code="not_acknowledged").height > 0  # payment before its invoice: 500
    assert result.metrics["reconciliation"]["missing"] == 0  # the sender's retries made it good


def test_p2p_loses_what_fails_past_the_senders_retries():
    metrics = _run("receiver-down-long", "p2p").metrics
    assert metrics["reconciliation"]["missing"] > 0
    assert {"missing_max", "converged_min"} <= _failed(metrics)


def test_p2p_without_external_ids_duplicates_when_replies_are_lost():
    metrics = _run("erp-lost-replies", "p2p", "engine.p2p.external_ids=false").metrics
    assert metrics["reconciliation"]["duplicated"] > 0 and metrics["safety"]["first_violation"]["id"] == "I13"
    assert _run("erp-lost-replies", "p2p").metrics["reconciliation"]["duplicated"] == 0  # the ERP's DUP_RCRD


def test_p2p_load_shedding_turns_a_throttled_peak_into_lost_events():
    """With `backlog_max` the handler answers 503 at once beyond a small backlog; billing's retries
    come back in step, meet the shedding again, and some run out: shed events are lost, not late."""
    shedding = _run("erp-throttling", "p2p", "engine.p2p.backlog_max=2")
    waiting = _run("erp-throttling", "p2p")
    failed = [result.trace.filter(kind="webhook.failed").height for result in (shedding, waiting)]
    assert failed[0] > failed[1]
    assert shedding.trace.filter(kind="webhook.lost").height > 0
    assert waiting.trace.filter(kind="webhook.lost").height == 0
    assert shedding.metrics["reconciliation"]["missing"] > 0 == waiting.metrics["reconciliation"]["missing"]
    assert shedding.metrics["reconciliation"]["duplicated"] == 0


def test_batch_recovers_what_webhooks_lost_because_it_reads_the_lists():
    metrics = _run("receiver-down-long", "batch").metrics
    assert metrics["reconciliation"]["missing"] == metrics["reconciliation"]["duplicated"] == 0
    assert metrics["passed"]


def test_batch_latency_is_its_schedule():
    result = _run("smoke", "batch", "run.traffic_days=2")
    assert result.trace.filter(kind="engine.batch").height >= 24 * 2 - 4  # one run an hour (runs drift by their length)
    assert result.metrics["latency_s"]["invoice_to_erp"]["p95"] > 1800
    assert _failed(result.metrics) == {"invoice_to_erp_p95_s_max"}
    faster = _run("smoke", "batch", "run.traffic_days=2", "engine.batch.interval_s=300").metrics
    assert faster["latency_s"]["invoice_to_erp"]["p95"] < 600


def test_batch_retries_a_partial_failure_in_the_next_run():
    result = _run("missing-master-data", "batch")
    trace = result.trace
    assert trace.filter(kind="engine.exception_opened", code="missing_reference").height > 0
    assert trace.filter(kind="engine.exception_resolved").height > 0  # the operator fixed and replayed
    assert result.metrics["reconciliation"]["missing"] == 0


def test_batch_that_lost_its_state_in_a_crash_finds_posted_parents_in_the_erp():
    """Without a durable store a crash forgets what the job posted; the next runs ask the ERP for
    each parent they do not know, so nothing is posted twice."""
    result = _run("engine-crash", "batch", "engine.durable_store=false")
    assert result.trace.filter(kind="engine.lookup", code="found").height > 0
    reconciliation = result.metrics["reconciliation"]
    assert reconciliation["missing"] == reconciliation["duplicated"] == 0


@pytest.mark.parametrize(("durable_store", "crashes_at"), [
    ("true", ["2026-02-01T02:00:36.9Z"]),  # while the 02:00 run lists billing
    ("true", ["2026-02-01T02:00:50Z"]),  # while it posts the peak's invoices
    ("false", ["2026-02-01T02:00:50Z", "2026-02-01T03:03:00Z"]),  # then while the next asks the ERP for parents
], ids=["listing", "posting", "looking-up"])
def test_batch_crashing_anywhere_in_a_run_posts_everything_exactly_once(durable_store, crashes_at):
    """The job dies mid-run, its workers' calls still in flight; whatever it had done, the runs
    after the restart finish the work without doubling any of it."""
    crash = f'{{kind="engine_crash", at={json.dumps(crashes_at)}, restart_after_s=60}}'
    result = _run("small-peak", "batch", f"engine.durable_store={durable_store}", f"faults=[{crash}]")
    trace = result.trace
    assert trace.filter(kind="engine.crashed").height == len(crashes_at)
    assert trace.filter(kind="engine.restarted").height == len(crashes_at)
    reconciliation = result.metrics["reconciliation"]
    assert reconciliation["missing"] == reconciliation["duplicated"] == 0
    assert reconciliation["invoices"]["expected"] > 0 and reconciliation["payments"]["expected"] > 0


def test_event_consumers_drop_duplicates_and_retry_children_that_overtook_their_parents():
    metrics = _run("webhook-storm", "event").metrics
    resilience = metrics["resilience"]
    assert resilience["duplicates_dropped"] > 0
    assert resilience["missing_references"] > 0 and resilience["retries"] > 0  # the bus orders by arrival
    assert metrics["reconciliation"]["missing"] == metrics["reconciliation"]["duplicated"] == 0


def test_event_dead_letters_what_outlasts_its_retries_and_a_person_replays_it():
    result = _run("erp-throttling", "event")
    trace = result.trace
    assert trace.filter(kind="engine.dead_lettered").height > 0
    assert trace.filter(kind="operator.fixed").height > 0
    assert result.metrics["reconciliation"]["missing"] == 0


def test_event_without_period_routing_parks_closed_period_postings_until_a_person_reroutes_them():
    """A closed period is a permanent answer: each posting goes to the exception queue, and the
    operator's replay posts it into the next period, late, as with the other patterns."""
    result = _run("period-close", "event", "engine.event.period_routing=false")
    trace, metrics = result.trace, result.metrics
    opened = trace.filter(kind="engine.exception_opened")
    assert opened.height > 0 and set(opened["code"]) == {"closed_period"}
    parked = set(opened["object_id"])
    assert len(parked) == opened.height  # each parked once: the replay does not meet the closed period again
    assert set(trace.filter(kind="engine.exception_resolved", code="replayed")["object_id"]) == parked
    assert set(trace.filter(kind="engine.rerouted")["object_id"]) == parked
    assert metrics["resilience"]["exceptions_open"] == 0
    invoices = metrics["reconciliation"]["invoices"]
    assert invoices["missing"] == invoices["duplicated"] == 0
    # Their payments meanwhile outlasted the consumer's retries and were dead-lettered. The operator
    # works the exceptions first and replays the dead letters once none is left to replay, so the
    # payments meet their invoices in the ERP (replayed first, 13 of 87 stayed dead-lettered).
    payments = metrics["reconciliation"]["payments"]
    assert trace.filter(kind="engine.dead_lettered", code="charge.succeeded").height > 0
    assert payments["missing"] == payments["duplicated"] == 0
    assert trace.filter(kind="operator.fixed", code="dead_letters").height > 0


def test_event_replays_of_the_same_posting_each_have_their_own_message():
    """A replay's message was `replay:<external id>` every time. Once one was processed (seen) and a
    later one of the same posting was dead-lettered, the dead-letter replay (which resets retries)
    met the dedupe and crashed reading a record id from the ERP document the message carries."""
    closes = '[{period="2026-02", at="2026-01-31T22:00:00Z"}, {period="2026-03", at="2026-02-03T13:46:05Z"}]'
    scenario, _ = load("small-peak", ['engine.pattern="event"', "engine.event.consumers=40",
                                      "engine.event.retries_max=0", "engine.event.period_routing=false",
                                      f"erp.period_closes={closes}"])
    result = runner.run(scenario, 122276)
    trace = result.trace
    replays = trace.filter(kind="engine.dead_lettered", code="engine.replay")["object_id"]
    assert replays.len() > 0 and replays.str.contains("@").all()
    assert trace.filter(kind="operator.fixed", code="dead_letters").height > 0
    assert trace.filter(kind="engine.duplicate_dropped", code="engine.replay").height == 0


def test_event_blocking_retries_keep_strict_order_at_the_cost_of_head_of_line_waits():
    """With `blocking_retries` a retry holds its partition: nothing is lost or doubled, but every
    event behind a retrying one waits, so latency grows by orders of magnitude in a storm."""
    blocking = _run("webhook-storm", "event", "engine.event.blocking_retries=true").metrics
    retry_topic = _run("webhook-storm", "event").metrics
    for metrics in (blocking, retry_topic):
        assert metrics["reconciliation"]["missing"] == metrics["reconciliation"]["duplicated"] == 0
    p50_s = [metrics["latency_s"]["invoice_to_erp"]["p50"] for metrics in (blocking, retry_topic)]
    assert p50_s[0] > 10 * p50_s[1]


def test_event_has_no_gap_fill_so_lost_webhooks_stay_lost():
    metrics = _run("receiver-down-long", "event").metrics
    assert metrics["reconciliation"]["missing"] > 0
    assert {"missing_max", "converged_min"} <= _failed(metrics)


SMALL_SCENARIOS = ["erp-throttling", "erp-maintenance", "erp-lost-replies", "webhook-storm", "receiver-down",
                   "period-close", "engine-crash", "receiver-down-long", "missing-master-data", "tax-address",
                   "schema-drift", "payment-faults", "late-returns", "write-off-recovery"]


@pytest.mark.slow
@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("name", SMALL_SCENARIOS)
def test_every_pattern_runs_every_fault_scenario_to_its_end(name, pattern):
    """The run may fail gates (that is the point) but ends: drained, or stopped at the drain limit."""
    result = _run(name, pattern)
    end = result.trace.filter(kind="run.end")
    assert end.height == 1 and end["code"][0] in ("drained", "drain_limit")
    assert result.metrics["reconciliation"]["invoices"]["expected"] > 0
    assert result.metrics["reconciliation"]["orphaned"] == 0  # whatever a pattern posts has a source


@pytest.mark.parametrize("pattern", PATTERNS)
def test_each_pattern_reverses_returned_bank_debits(pattern):
    """A charge.reversed maps to a reversal in every pattern: none of them is built to lose this."""
    metrics = _run("payment-faults", pattern).metrics
    reversals = metrics["reconciliation"]["reversals"]
    assert reversals["expected"] > 0 and reversals["matched"] == reversals["expected"]
    assert metrics["passed"], _failed(metrics)


@pytest.mark.parametrize("pattern", [*PATTERNS, "orchestrated"])
def test_only_a_pattern_that_rereads_or_lists_billing_posts_a_late_return_before_the_repayment(pattern):
    """late-returns: p2p and event post each event as it comes, so a re-payment that overtakes the
    return of the debit it replaces applies nothing; batch lists billing's state, and the
    orchestrated engine re-reads the earlier debit, so both leave every invoice as billing has it."""
    metrics = _run("late-returns", pattern).metrics
    invoices = metrics["reconciliation"]["invoices"]
    if pattern in ("p2p", "event"):
        assert invoices["mismatched"] > 0 and metrics["resilience"]["unapplied_cash_share"] > 0
        assert "mismatched_max" in _failed(metrics)
    else:
        assert invoices["mismatched"] == 0 and metrics["passed"], _failed(metrics)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_no_other_pattern_undoes_a_write_off_before_a_late_payment(pattern):
    """write-off-recovery: only the orchestrated engine posts a recovery; elsewhere the late
    payment of a written-off invoice applies nothing and the invoice stays written off."""
    metrics = _run("write-off-recovery", pattern).metrics
    assert metrics["reconciliation"]["invoices"]["mismatched"] > 0
    assert metrics["resilience"]["unapplied_cash_share"] > 0 and "unapplied_cash_share_max" in _failed(metrics)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_each_pattern_is_deterministic(pattern):
    scenario, _ = load("engine-crash", [f'engine.pattern="{pattern}"'])
    first = runner.simulate(scenario, 5).trace
    assert first.equals(runner.simulate(scenario, 5).trace)
    assert not first.equals(runner.simulate(scenario, 6).trace)


@pytest.mark.parametrize("pattern", [*PATTERNS, "orchestrated"])
def test_a_finished_run_closes_its_suspended_workers_without_an_error_on_the_terminal(pattern, monkeypatch):
    """bad-month-end ends with workers suspended inside `try`/`finally`; closed by the garbage
    collector after the world was released, their `finally` failed and Python printed the error."""
    unraisable = []
    monkeypatch.setattr("sys.unraisablehook", unraisable.append)
    scenario, _ = load("bad-month-end", [f'engine.pattern="{pattern}"', "traffic.subscriptions=400"])
    runner.simulate(scenario, scenario.run.seed)
    assert [str(item.exc_value) for item in unraisable] == []
