"""The checked-in OpenAPI documents are the ones the code generates, and they are complete."""

from __future__ import annotations

import pytest

from rehearse.contracts.documents import SYSTEMS, document_text, load_document
from rehearse.sim.scenario import load
from rehearse.sim.served import openapi_documents


@pytest.fixture(scope="module")
def generated() -> dict[str, dict]:
    scenario, _ = load("smoke")
    return openapi_documents(scenario)


@pytest.mark.parametrize("system", SYSTEMS)
def test_checked_in_document_matches_the_code(system: str, generated: dict[str, dict]) -> None:
    assert document_text(load_document(system)) == document_text(generated[system]), (
        f"contracts/openapi/{system}.json drifted from the code: run `rehearse contracts export`")


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_operation_documents_its_errors_and_no_framework_422(system: str) -> None:
    document = load_document(system)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            assert {"400", "429", "500", "502", "503", "504"} <= statuses, (method, path, statuses)
            assert "422" not in statuses, (method, path)
            assert "Retry-After" in operation["responses"]["429"]["headers"]
    assert "HTTPValidationError" not in document.get("components", {}).get("schemas", {})


def test_creates_link_to_the_reads_that_take_their_ids() -> None:
    links = {system: [name for item in load_document(system)["paths"].values() for op in item.values()
                      for response in op["responses"].values() for name in response.get("links", {})]
             for system in SYSTEMS}
    assert "GetRecord" in links["erp"] and "GetCustomer" in links["billing"]
    assert "GetSubscription" in links["billing"] and "GetOpportunity" in links["crm"]


def test_errors_have_the_modelled_systems_shapes() -> None:
    schemas = {system: load_document(system)["components"]["schemas"] for system in SYSTEMS}
    assert schemas["erp"]["NetSuiteErrorDetail"]["required"] == ["code", "message"]
    for system in ("billing", "payments", "tax"):
        assert schemas[system]["StripeErrorDetail"]["required"] == ["type", "code", "message"]
    assert schemas["crm"]["SalesforceErrors"]["type"] == "array"
