"""Consumer side: the engine's requests are checked against the providers' documents."""

from __future__ import annotations

import pytest

from rehearse.contracts.consumer import ConsumerContracts, ContractViolation, RequestValidator
from rehearse.contracts.documents import load_document
from rehearse.sim import runner
from rehearse.sim.erp_wire import billing_list, erp_lookup, erp_post
from rehearse.sim.scenario import load
from rehearse.sync.model import ErpDocument, InvoiceLine, JournalLine

INVOICE = ErpDocument("invoice", "in_1", "in_1", "cus_1", "US01", "USD", 1063, 63, 1769817600.0, "2026-01",
                      (InvoiceLine("starter", "subscription", 1000, 63, 1769817600.0, 1772409600.0),),
                      (JournalLine("ar", 1063, 0), JournalLine("deferred_revenue", 0, 1000),
                       JournalLine("tax_payable", 0, 63)))


@pytest.fixture(scope="module")
def erp() -> RequestValidator:
    return RequestValidator("erp", load_document("erp"))


def test_the_engines_requests_are_in_the_document(erp: RequestValidator) -> None:
    erp.validate(*erp_post(INVOICE)[:2], query={}, body=erp_post(INVOICE).body)
    erp.validate("GET", erp_lookup("invoice", "in_1").path)
    contracts = ConsumerContracts({s: load_document(s) for s in ("billing", "payments")})
    for what in ("customers", "invoices", "charges"):
        system, request = billing_list(what, 1769817600.0, starting_after="x_1")
        contracts.check(system, *request)


@pytest.mark.parametrize("document, reason", [
    (INVOICE._replace(currency="usd"), "body.currency: 'usd' does not match"),
    (INVOICE._replace(posting_period="2026-13"), "body.posting_period"),
    (INVOICE._replace(amount_minor=10.5), "body.amount_minor: 10.5 is not of type 'integer'"),
    (INVOICE._replace(doc_type="journal"), "path parameter record_type: 'journal' is not one of"),
])
def test_a_request_outside_the_document_is_a_violation(erp: RequestValidator, document, reason: str) -> None:
    request = erp_post(document)
    with pytest.raises(ContractViolation, match="breaks the contract") as raised:
        erp.validate(request.method, request.path, body=request.body)
    assert any(item.startswith(reason) for item in raised.value.reasons), raised.value.reasons


def test_unknown_operation_and_parameters_are_violations(erp: RequestValidator) -> None:
    with pytest.raises(ContractViolation, match="no such operation"):
        erp.validate("DELETE", "/record/v1/invoice/1001")
    with pytest.raises(ContractViolation, match="'expand' is not in the document"):
        erp.validate("GET", "/record/v1/invoice/1001", query={"expand": "lines"})


@pytest.mark.slow
# payment-faults: ACH returns post reversals; late-returns: the engine re-reads charges;
# write-off-recovery: recoveries
@pytest.mark.parametrize("name", ["smoke", "payment-faults", "late-returns", "write-off-recovery"])
def test_a_run_with_every_request_validated(name: str) -> None:
    scenario, _ = load(name)
    contracts = ConsumerContracts({s: load_document(s) for s in ("billing", "payments", "erp")})
    result = runner.run(scenario, 1, contracts=contracts)
    assert result.metrics["passed"]
    assert contracts.validators["erp"].checked == result.metrics["resilience"]["erp_calls"]


def test_a_violation_stops_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from rehearse.sync import rules

    planted = rules.customer_document

    def lowercase_currency(customer):
        document = planted(customer)
        return document._replace(currency=document.currency.lower())

    monkeypatch.setattr(rules, "customer_document", lowercase_currency)
    scenario, _ = load("smoke", ["traffic.subscriptions=20"])
    contracts = ConsumerContracts({s: load_document(s) for s in ("billing", "payments", "erp")})
    with pytest.raises(ContractViolation, match="currency"):
        runner.simulate(scenario, 1, contracts=contracts)
