"""Each invariant check, holding and failing, on hand-made traces."""

from __future__ import annotations

import pytest

from rehearse.reports import trace_frame
from rehearse.reports.frame import KindFrames
from rehearse.reports.invariants import CHECKS, check_invariants
from rehearse.reports.reconcile import invoice_table
from rehearse.reports.testing import invoice_rows, payment_rows, run_rows


def check(invariant_id: str, *records: dict) -> dict:
    frames = KindFrames(trace_frame([*run_rows(0.0, 100_000.0), *records]))
    return CHECKS[invariant_id](frames, invoice_table(frames))


def document(code: str, ref_id: str, parent_id: str, t_s: float = 3_000.0, **columns) -> dict:
    return {
        "t_s": t_s,
        "kind": "erp.document",
        "object_id": f"erp_{code}_{ref_id}_{t_s}",
        "ref_id": ref_id,
        "parent_id": parent_id,
        "code": code,
        "period": "2024-01",
        **columns,
    }


def inflight(source_id: str, document_type: str) -> dict:
    return {
        "t_s": 9.0,
        "kind": "engine.inflight",
        "object_id": f"x_{source_id}",
        "ref_id": source_id,
        "code": document_type,
    }


def test_all_invariants_are_reported_in_domain_order():
    frames = KindFrames(trace_frame(run_rows(0.0, 1.0)))
    results = check_invariants(frames, invoice_table(frames))
    assert [r["id"] for r in results] == ["I1", "I2", "I3", "I4", "I12", "I13", "I14", "I16"]
    assert all(r["holds"] for r in results)


class TestI1MoneyConserved:
    def test_holds_with_voids_and_in_flight(self):
        result = check(
            "I1",
            *invoice_rows("in_1", amount_minor=500),
            *invoice_rows("in_void", amount_minor=700, expected_state="void"),
            document("void", "in_void", "in_void", entity="E1", currency="USD", amount_minor=700),
            *invoice_rows("in_flying", amount_minor=300, erp_t_s=None),
            inflight("in_flying", "invoice"),
            *invoice_rows("in_voiding", amount_minor=900, expected_state="void"),  # its void is on its way
            inflight("in_voiding", "void"),
        )
        assert result["holds"], result
        assert "2 invoices and voids in flight" in result["detail"]

    def test_an_invoice_posted_twice_and_voided_once_is_still_in_the_erp(self):
        result = check(
            "I1",
            *invoice_rows("in_1", amount_minor=700, expected_state="void", erp_copies=2),
            document("void", "in_1", "in_1", entity="E1", currency="USD", amount_minor=700),
        )
        assert not result["holds"]
        assert "E1/USD billing 0 vs ERP 700" in result["detail"]

    def test_fails_when_an_amount_differs(self):
        result = check(
            "I1",
            *invoice_rows("in_1", amount_minor=500, erp_overrides={"amount_minor": 400}),
            *invoice_rows("in_2", currency="EUR"),
        )
        assert not result["holds"]
        assert "1 of 2 entity/currency groups" in result["detail"]
        assert "E1/USD billing 500 vs ERP 400" in result["detail"]

    def test_fails_when_a_missing_invoice_is_not_in_flight(self):
        assert not check("I1", *invoice_rows("in_1", erp_t_s=None))["holds"]

    def test_fails_when_a_voided_invoice_is_not_voided_in_the_erp(self):
        assert not check("I1", *invoice_rows("in_1", expected_state="void"))["holds"]


class TestI2OneErpInvoiceEach:
    def test_holds(self):
        result = check(
            "I2",
            *invoice_rows("in_1"),
            *invoice_rows("in_2", erp_t_s=None),
            inflight("in_2", "invoice"),
        )
        assert result["holds"], result
        assert "1 in flight" in result["detail"]

    @pytest.mark.parametrize(
        "records",
        [
            invoice_rows("in_1", erp_t_s=None),
            invoice_rows("in_1", erp_copies=2),
            invoice_rows("in_1", erp_overrides={"tax_minor": 1}),
            invoice_rows("in_1", oracle=False),
        ],
        ids=["missing", "duplicated", "different tax", "no source"],
    )
    def test_fails(self, records):
        result = check("I2", *records)
        assert not result["holds"]
        assert "(e.g. in_1)" in result["detail"]


class TestI3StatesReflected:
    def test_holds(self):
        result = check(
            "I3",
            *invoice_rows("in_paid", expected_state="paid"),
            *payment_rows("ch_1", "in_paid", amount_minor=6_000),
            *payment_rows("ch_2", "in_paid", amount_minor=4_000),
            *invoice_rows("in_void", expected_state="void"),
            document("void", "in_void", "in_void"),
            *invoice_rows("in_lost", expected_state="written_off"),
            document("writeoff", "in_lost", "in_lost"),
            *invoice_rows("in_open"),
        )
        assert result["holds"], result
        assert "all 3 paid, void or written-off" in result["detail"]

    @pytest.mark.parametrize(
        "records",
        [
            [
                *invoice_rows("in_1", expected_state="paid"),
                *payment_rows("ch_1", "in_1", amount_minor=9_999),
            ],
            invoice_rows("in_1", expected_state="void"),
            invoice_rows("in_1", expected_state="written_off"),
            invoice_rows("in_1", expected_state="paid", erp_t_s=None),
        ],
        ids=["partly paid", "not voided", "not written off", "not posted"],
    )
    def test_fails(self, records):
        result = check("I3", *records)
        assert not result["holds"]
        assert "1 of 1" in result["detail"]

    def test_skips_invoices_whose_payment_is_in_flight(self):
        result = check(
            "I3",
            *invoice_rows("in_1", expected_state="paid"),
            *payment_rows("ch_1", "in_1", erp_t_s=None),
            inflight("ch_1", "payment"),
        )
        assert result["holds"], result


class TestI4Applications:
    def test_holds_with_unapplied_cash(self):
        result = check(
            "I4",
            *invoice_rows("in_1"),
            *payment_rows("ch_1", "in_1", amount_minor=12_000, unapplied_minor=2_000),
        )
        assert result["holds"], result

    def test_fails_when_applied_beyond_the_invoice(self):
        result = check(
            "I4", *invoice_rows("in_1"), *payment_rows("ch_1", "in_1", amount_minor=12_000)
        )
        assert not result["holds"]
        assert "1 invoices applied beyond" in result["detail"]

    def test_fails_when_applied_plus_unapplied_is_not_the_payment(self):
        records = [*invoice_rows("in_1"), *payment_rows("ch_1", "in_1", amount_minor=5_000)]
        records = [
            {**r, "amount_minor": 4_000} if r["kind"] == "erp.payment_applied" else r
            for r in records
        ]
        result = check("I4", *records)
        assert not result["holds"]
        assert "1 payments with applied + unapplied != amount" in result["detail"]

    def test_the_last_unapplied_amount_counts(self):
        records = [*invoice_rows("in_1"), *payment_rows("ch_1", "in_1", amount_minor=5_000)]
        stale = {
            "t_s": 1.0,
            "kind": "erp.payment_unapplied",
            "object_id": "erp_ch_1_0",
            "amount_minor": 5_000,
        }
        assert not check("I4", *records, stale)["holds"]  # 5,000 applied and 5,000 unapplied
        settled = {**stale, "t_s": 9_999.0, "amount_minor": 0}
        assert check("I4", *records, stale, settled)["holds"]  # the state after it was applied


class TestI12Balanced:
    def test_holds(self):
        assert check("I12", *invoice_rows("in_1"))["holds"]

    def test_fails(self):
        result = check("I12", *invoice_rows("in_1", erp_overrides={"debit_minor": 1}))
        assert not result["holds"]
        assert "erp_in_1_0" in result["detail"]


class TestI13NoDuplicateDocuments:
    def test_holds(self):
        assert check("I13", *invoice_rows("in_1"), *payment_rows("ch_1", "in_1"))["holds"]

    @pytest.mark.parametrize(
        "records",
        [
            invoice_rows("in_1", erp_copies=2),
            [*invoice_rows("in_1"), *payment_rows("ch_1", "in_1", erp_copies=2)],
            [
                *invoice_rows("in_1"),
                document("void", "in_1", "in_1", 1.0),
                document("void", "in_1", "in_1", 2.0),
            ],
            [
                *invoice_rows("in_1"),
                *payment_rows("ch_1", "in_1"),
                document("reversal", "ch_1", "ch_1", 3.0),
                document("reversal", "ch_1", "ch_1", 4.0),
            ],
            [document("customer", "cus_1", "", 1.0), document("customer", "cus_1", "", 2.0)],
        ],
        ids=["invoice", "payment", "void", "reversal", "customer"],
    )
    def test_fails(self, records):
        result = check("I13", *records)
        assert not result["holds"]
        assert "1 of" in result["detail"]


def closed(entity: str, period: str, t_s: float) -> dict:
    return {"t_s": t_s, "kind": "erp.period_closed", "entity": entity, "period": period}


class TestI14ClosedPeriods:
    def test_holds_when_posted_before_the_close_or_elsewhere(self):
        result = check(
            "I14",
            *invoice_rows("in_1", erp_t_s=1_000.0),
            closed("E1", "2024-01", 2_000.0),
            closed("E2", "2024-01", 10.0),
            closed("*", "2023-12", 10.0),
        )
        assert result["holds"], result
        assert "3 period closings" in result["detail"]

    @pytest.mark.parametrize("entity", ["E1", "*"])
    @pytest.mark.parametrize("erp_t_s", [2_000.0, 2_500.0])
    def test_fails_when_posted_after_the_close(self, entity, erp_t_s):
        """In the same instant too, when the trace has the closing first."""
        result = check("I14", closed(entity, "2024-01", 2_000.0), *invoice_rows("in_1", erp_t_s=erp_t_s))
        assert not result["holds"]
        assert "erp_in_1_0" in result["detail"]

    @pytest.mark.parametrize("entity", ["E1", "*"])
    def test_holds_when_posted_in_the_instant_of_the_close_but_before_it(self, entity):
        """The trace is written in the order things happened: a tie in time goes by it."""
        result = check("I14", *invoice_rows("in_1", erp_t_s=2_000.0), closed(entity, "2024-01", 2_000.0))
        assert result["holds"], result


class TestI16OneEntity:
    def test_holds_and_skips_preloaded_customers(self):
        result = check(
            "I16",
            document("customer", "cus_1", "", 10.0, entity="E1"),
            *invoice_rows("in_1", customer_id="cus_1"),
            *invoice_rows("in_2", customer_id="cus_preloaded", entity="E2"),
            *payment_rows("ch_1", "in_1"),
        )
        assert result["holds"], result
        assert "1 payments and 1 invoices" in result["detail"]

    def test_fails_when_a_payment_crosses_entities(self):
        result = check(
            "I16",
            *invoice_rows("in_1"),
            *payment_rows("ch_1", "in_1", erp_overrides={"entity": "E2"}),
        )
        assert not result["holds"]
        assert "erp_ch_1_0" in result["detail"]

    def test_fails_when_an_invoice_is_in_another_entity_than_its_customer(self):
        result = check(
            "I16", document("customer", "cus_1", "", 10.0, entity="E2"), *invoice_rows("in_1")
        )
        assert not result["holds"]
        assert "1 invoices in another entity" in result["detail"]


def test_failure_details_name_at_most_three_example_ids():
    records = [row for number in range(5) for row in invoice_rows(f"in_{number}", erp_t_s=None)]
    result = check("I2", *records)
    assert result["detail"].endswith("(e.g. in_0, in_1, in_2)")
