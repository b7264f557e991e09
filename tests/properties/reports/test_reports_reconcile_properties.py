"""Properties of the reconciliation against a plain-Python model of the outcomes."""

from __future__ import annotations

import json
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rehearse.reports import compute_metrics, trace_frame
from rehearse.reports.testing import invoice_rows, run_rows

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])

invoice_specs = st.lists(
    st.fixed_dictionaries(
        {
            "oracle": st.booleans(),
            "erp_copies": st.integers(0, 3),
            "amount_minor": st.integers(0, 10_000),
            "amount_differs": st.booleans(),
            "currency": st.sampled_from(["USD", "EUR"]),
            "entity": st.sampled_from(["E1", "E2"]),
        }
    ),
    max_size=12,
)


def build_records(specs: list[dict]) -> list[dict]:
    records = run_rows(0.0, 100_000.0)
    for number, spec in enumerate(specs):
        records += invoice_rows(
            f"in_{number}",
            entity=spec["entity"],
            currency=spec["currency"],
            amount_minor=spec["amount_minor"],
            tax_minor=0,
            # an invoice of 0 is "paid" with nothing applied; the oracle agrees in the model below
            expected_state="paid" if spec["amount_minor"] == 0 else "open",
            erp_t_s=None if spec["erp_copies"] == 0 else 2_000.0,
            erp_copies=max(spec["erp_copies"], 1),
            erp_overrides={"amount_minor": spec["amount_minor"] + 1}
            if spec["amount_differs"]
            else None,
            oracle=spec["oracle"],
        )
    return records


def model_outcomes(specs: list[dict]) -> dict:
    counts = dict.fromkeys(
        ("expected", "matched", "missing", "duplicated", "mismatched", "orphaned"), 0
    )
    for spec in specs:
        copies = spec["erp_copies"]
        if not spec["oracle"]:
            counts["orphaned"] += copies
            continue
        counts["expected"] += 1
        if copies == 0:
            counts["missing"] += 1
        elif copies > 1:
            counts["duplicated"] += 1
        elif spec["amount_differs"]:
            counts["mismatched"] += 1  # a different amount; and state paid vs open when it was 0
        else:
            counts["matched"] += 1
    return counts


def metrics_of(records: list[dict]) -> dict:
    return compute_metrics(trace_frame(records), scenario="p", seed=0, pattern="p", gates={})


@SETTINGS
@given(invoice_specs)
def test_invoice_outcomes_agree_with_the_model(specs):
    reconciliation = metrics_of(build_records(specs))["reconciliation"]
    summary = reconciliation["invoices"]
    assert {key: summary[key] for key in model_outcomes(specs)} == model_outcomes(specs)
    assert (
        summary["matched"] + summary["missing"] + summary["duplicated"] + summary["mismatched"]
        == summary["expected"]
    )
    assert 0.0 <= reconciliation["accuracy"] <= 1.0
    for group in reconciliation["accuracy_by_group"]:
        assert (
            group["matched_amount_minor"] <= group["expected_amount_minor"]
            or group["expected_amount_minor"] == 0
        )


@SETTINGS
@given(invoice_specs, st.randoms(use_true_random=False))
def test_metrics_do_not_depend_on_the_order_of_unrelated_rows(specs, shuffler: random.Random):
    records = build_records(specs)
    shuffled = list(records)
    shuffler.shuffle(shuffled)
    before, after = metrics_of(records), metrics_of(shuffled)
    for key in ("reconciliation", "latency_s", "counts"):
        assert json.dumps(before[key]) == json.dumps(after[key])
