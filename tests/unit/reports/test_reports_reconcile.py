"""Reconciliation outcomes: one hand-made trace per outcome."""

from __future__ import annotations

import pytest

from rehearse.reports import compute_metrics, trace_frame
from rehearse.reports.frame import KindFrames
from rehearse.reports.reconcile import invoice_table
from rehearse.reports.testing import invoice_rows, payment_rows, run_rows

DAY_S = 86_400.0


def metrics_of(*records: dict) -> dict:
    trace = trace_frame([*run_rows(0.0, 10 * DAY_S), *records])
    return compute_metrics(trace, scenario="t", seed=1, pattern="orchestrated", gates={})


def invoices(metrics: dict) -> dict:
    return metrics["reconciliation"]["invoices"]


def payments(metrics: dict) -> dict:
    return metrics["reconciliation"]["payments"]


def paid_invoice(invoice_id: str = "in_1", charge_id: str = "ch_1", **payment) -> list[dict]:
    return [
        *invoice_rows(invoice_id, expected_state="paid"),
        *payment_rows(charge_id, invoice_id, **payment),
    ]


def test_a_paid_invoice_and_its_payment_match():
    metrics = metrics_of(*paid_invoice())
    assert invoices(metrics) | payments(metrics) == invoices(metrics)  # same keys
    assert invoices(metrics)["matched"] == 1 and payments(metrics)["matched"] == 1
    assert [(group["reconciliation"], group["matched_amount_minor"], group["expected_amount_minor"])
            for group in metrics["reconciliation"]["accuracy_by_group"]] == [
        ("invoices", 10_000, 10_000), ("payments", 10_000, 10_000)]
    assert metrics["reconciliation"]["accuracy"] == 1.0
    for outcome in ("missing", "duplicated", "mismatched", "orphaned", "in_flight"):
        assert metrics["reconciliation"][outcome] == 0


def test_an_invoice_absent_from_the_erp_is_missing():
    metrics = metrics_of(*invoice_rows("in_1", erp_t_s=None), *invoice_rows("in_2"))
    assert invoices(metrics)["missing"] == 1
    assert invoices(metrics)["matched"] == 1
    assert metrics["reconciliation"]["in_flight"] == 0
    assert metrics["reconciliation"]["accuracy"] == 0.5


def test_a_missing_invoice_in_flight_is_missing_and_named_in_flight():
    inflight = {
        "t_s": 5.0,
        "kind": "engine.inflight",
        "object_id": "x_in_1",
        "ref_id": "in_1",
        "code": "invoice",
    }
    metrics = metrics_of(*invoice_rows("in_1", erp_t_s=None), inflight)
    assert invoices(metrics)["missing"] == 1
    assert invoices(metrics)["in_flight"] == 1
    assert metrics["reconciliation"]["in_flight"] == 1


def test_two_erp_invoices_for_one_source_count_as_one_duplicate():
    metrics = metrics_of(*invoice_rows("in_1", erp_copies=3))
    assert invoices(metrics)["duplicated"] == 1
    assert invoices(metrics)["matched"] == 0
    assert metrics["reconciliation"]["accuracy"] == 0.0


@pytest.mark.parametrize(
    "override",
    [
        {"amount_minor": 9_999, "debit_minor": 9_999, "credit_minor": 9_999},
        {"tax_minor": 0},
        {"currency": "EUR"},
        {"entity": "E2"},
        {"parent_id": "cus_other"},
        {"detail": "2024-02-01/2024-02-29"},
    ],
)
def test_an_erp_invoice_that_differs_is_mismatched(override):
    metrics = metrics_of(*invoice_rows("in_1", erp_overrides=override))
    assert invoices(metrics)["mismatched"] == 1
    assert invoices(metrics)["mismatched_fields"] == 1
    assert invoices(metrics)["matched"] == 0


def test_an_invoice_in_the_wrong_state_is_a_status_mismatch():
    # The oracle says paid, but nothing was applied in the ERP: the invoice is still open there.
    metrics = metrics_of(*invoice_rows("in_1", expected_state="paid"))
    assert invoices(metrics)["mismatched"] == 1
    assert invoices(metrics)["mismatched_status"] == 1
    assert invoices(metrics)["mismatched_fields"] == 0


def test_an_erp_invoice_without_an_oracle_invoice_is_orphaned():
    metrics = metrics_of(*invoice_rows("in_1"), *invoice_rows("in_x", oracle=False, erp_copies=2))
    assert invoices(metrics)["orphaned"] == 2  # documents, not sources
    assert invoices(metrics)["expected"] == 1 and invoices(metrics)["matched"] == 1
    assert metrics["reconciliation"]["accuracy"] == 1.0


def document(code: str, parent_id: str, t_s: float = 3_000.0, **columns) -> dict:
    return {
        "t_s": t_s,
        "kind": "erp.document",
        "object_id": f"erp_{code}_{parent_id}",
        "ref_id": parent_id,
        "parent_id": parent_id,
        "code": code,
        "period": "2024-01",
        **columns,
    }


@pytest.mark.parametrize(
    ("extra", "erp_state"),
    [
        ([], "open"),
        (payment_rows("ch_1", "in_1", amount_minor=4_000), "open"),
        (payment_rows("ch_1", "in_1"), "paid"),
        ([document("writeoff", "in_1")], "written_off"),
        ([document("writeoff", "in_1"), *payment_rows("ch_1", "in_1")], "written_off"),
        ([document("void", "in_1"), document("writeoff", "in_1")], "void"),
    ],
)
def test_final_erp_state_follows_void_then_writeoff_then_paid(extra, erp_state):
    frames = KindFrames(trace_frame([*invoice_rows("in_1"), *extra]))
    assert invoice_table(frames)["erp_state"].to_list() == [erp_state]


@pytest.mark.parametrize("state", ["void", "written_off"])
def test_a_voided_or_written_off_invoice_matches_when_the_erp_agrees(state):
    code = "void" if state == "void" else "writeoff"
    metrics = metrics_of(*invoice_rows("in_1", expected_state=state), document(code, "in_1"))
    assert invoices(metrics)["matched"] == 1


def test_payment_outcomes():
    metrics = metrics_of(
        *invoice_rows("in_1", expected_state="open"),
        *payment_rows("ch_ok", "in_1", amount_minor=1_000),
        *payment_rows("ch_missing", "in_1", amount_minor=1_000, erp_t_s=None),
        *payment_rows("ch_dup", "in_1", amount_minor=1_000, erp_copies=2),
        *payment_rows(
            "ch_wrong_invoice", "in_1", amount_minor=1_000, erp_overrides={"parent_id": "in_9"}
        ),
        *payment_rows("ch_orphan", "in_1", amount_minor=1_000, oracle=False),
    )
    assert payments(metrics) == {
        "expected": 4,
        "matched": 1,
        "missing": 1,
        "duplicated": 1,
        "mismatched": 1,
        "mismatched_fields": 1,
        "mismatched_status": 0,
        "orphaned": 1,
        "in_flight": 0,
    }
    assert metrics["reconciliation"]["missing"] == 1
    assert metrics["reconciliation"]["orphaned"] == 1


def test_accuracy_is_per_entity_and_currency_and_the_minimum_of_the_groups():
    metrics = metrics_of(
        *invoice_rows("in_usd", currency="USD", amount_minor=1_000_000),
        *invoice_rows("in_eur_ok", currency="EUR", amount_minor=300),
        *invoice_rows("in_eur_missing", currency="EUR", amount_minor=100, erp_t_s=None),
    )
    groups = metrics["reconciliation"]["accuracy_by_group"]
    assert groups == [
        {
            "reconciliation": "invoices",
            "entity": "E1",
            "currency": "EUR",
            "expected_amount_minor": 400,
            "matched_amount_minor": 300,
            "accuracy": 0.75,
        },
        {
            "reconciliation": "invoices",
            "entity": "E1",
            "currency": "USD",
            "expected_amount_minor": 1_000_000,
            "matched_amount_minor": 1_000_000,
            "accuracy": 1.0,
        },
    ]
    # summing currencies would give 0.9999; the worst group is what the gate sees
    assert metrics["reconciliation"]["accuracy"] == 0.75


def test_accuracy_is_per_reconciliation_so_invoice_totals_do_not_hide_a_lost_payment():
    metrics = metrics_of(
        *invoice_rows("in_big", amount_minor=990_000),
        *invoice_rows("in_1", expected_state="paid", amount_minor=10_000),
        *payment_rows("ch_1", "in_1", amount_minor=10_000, erp_t_s=None),
    )
    groups = metrics["reconciliation"]["accuracy_by_group"]
    assert [(group["reconciliation"], group["accuracy"]) for group in groups] == [
        ("invoices", 0.99), ("payments", 0.0)]  # in_1 is still open in the ERP: not matched
    assert metrics["reconciliation"]["accuracy"] == 0.0  # pooled, it was 0.98


def test_an_empty_trace_reconciles_trivially():
    metrics = metrics_of()
    assert invoices(metrics)["expected"] == 0
    assert metrics["reconciliation"]["accuracy"] == 1.0
    assert metrics["reconciliation"]["accuracy_by_group"] == []
    assert metrics["reconciliation"]["invariants_failed"] == 0


def test_a_restated_oracle_expectation_replaces_the_earlier_one():
    first, *_ = [
        r for r in invoice_rows("in_1", expected_state="paid") if r["kind"] == "oracle.invoice"
    ]
    metrics = metrics_of(first, *invoice_rows("in_1", expected_state="open"))
    assert invoices(metrics)["expected"] == 1
    assert invoices(metrics)["matched"] == 1
