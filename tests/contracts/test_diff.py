"""`rehearse contracts diff`: each breaking kind planted in a copy of a fixture document is caught
(exit 1, with its location), additions are reported as info only (exit 0), bad inputs exit 2."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from rehearse.contracts.diff import BREAKING, INFO, KINDS, diff_documents
from rehearse.sim.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
BASE = yaml.safe_load((FIXTURES / "invoices-v1.yaml").read_text())


def _schemas(doc):
    return doc["components"]["schemas"]


def _list_params(doc):
    return doc["paths"]["/invoices"]["get"]["parameters"]


def _add_required_param(doc):
    _list_params(doc).append({"name": "entity", "in": "query", "required": True, "schema": {"type": "string"}})


def _require_limit(doc):
    _list_params(doc)[0]["required"] = True


def _body_from_optional_to_required(doc):
    doc["paths"]["/invoices"]["post"]["requestBody"]["required"] = False
    new = copy.deepcopy(doc)
    new["paths"]["/invoices"]["post"]["requestBody"]["required"] = True
    return doc, new


def _rename_request_media_type(doc):
    body = doc["paths"]["/invoices"]["post"]["requestBody"]["content"]
    body["application/vnd.invoices+json"] = body.pop("application/json")


def _close_and_drop_memo(doc):
    new_invoice = _schemas(doc)["NewInvoice"]
    new_invoice["additionalProperties"] = False
    new = copy.deepcopy(doc)
    _schemas(new)["NewInvoice"]["properties"].pop("memo")
    return doc, new


def _add_wallet(doc, schema_name):
    _schemas(doc)["Wallet"] = {"type": "object", "properties": {"wallet_id": {"type": "string"}}}
    _schemas(doc)[schema_name]["properties"]["payment"]["oneOf"].append({"$ref": "#/components/schemas/Wallet"})


def _drop_card_from_request(doc):
    _schemas(doc)["NewInvoice"]["properties"]["payment"]["oneOf"].pop(0)


def _remove_json_from_get(doc):
    doc["paths"]["/invoices/{id}"]["get"]["responses"]["200"]["content"] = {
        "application/pdf": {"schema": {"type": "string", "format": "binary"}}}


def _widen_total(doc):
    _schemas(doc)["Invoice"]["properties"]["total_minor"]["type"] = "number"


# breaking kind -> (mutation of the new document | (old, new) builder, operation, where, field)
PLANTED = {
    "path_removed": (lambda d: d["paths"].pop("/invoices/{id}"), "/invoices/{id}", "", ""),
    "operation_removed": (lambda d: d["paths"]["/invoices"].pop("post"), "POST /invoices", "", ""),
    "parameter_required_added": (_add_required_param, "GET /invoices", "parameter query entity", ""),
    "parameter_became_required": (_require_limit, "GET /invoices", "parameter query limit", ""),
    "request_body_became_required": (_body_from_optional_to_required, "POST /invoices", "request body", ""),
    "request_media_type_removed": (_rename_request_media_type, "POST /invoices", "request body application/json", ""),
    "request_property_required_added": (lambda d: _schemas(d)["NewInvoice"]["required"].append("memo"),
                                        "POST /invoices", "request body application/json", "memo"),
    "request_property_removed": (_close_and_drop_memo, "POST /invoices", "request body application/json", "memo"),
    "request_type_narrowed": (lambda d: _schemas(d)["NewInvoice"]["properties"]["amount_minor"].update(type="integer"),
                              "POST /invoices", "request body application/json", "amount_minor"),
    "request_enum_narrowed": (lambda d: _list_params(d)[1]["schema"]["enum"].remove("void"),
                              "GET /invoices", "parameter query status", ""),
    "request_constraint_narrowed": (lambda d: _schemas(d)["NewInvoice"]["properties"]["memo"].update(maxLength=100),
                                    "POST /invoices", "request body application/json", "memo"),
    "request_variant_removed": (_drop_card_from_request, "POST /invoices", "request body application/json", "payment"),
    "response_status_removed": (lambda d: d["paths"]["/invoices/{id}"]["get"]["responses"].pop("404"),
                                "GET /invoices/{id}", "response 404", ""),
    "response_media_type_removed": (_remove_json_from_get, "GET /invoices/{id}", "response 200 application/json", ""),
    "response_property_removed": (lambda d: _schemas(d)["Line"]["properties"].pop("period"),
                                  "GET /invoices/{id}", "response 200 application/json", "lines[].period"),
    "response_property_became_optional": (lambda d: _schemas(d)["Invoice"]["required"].remove("currency"),
                                          "GET /invoices/{id}", "response 200 application/json", "currency"),
    "response_type_widened": (_widen_total, "GET /invoices/{id}", "response 200 application/json", "total_minor"),
    "response_variant_added": (lambda d: _add_wallet(d, "Invoice"), "GET /invoices/{id}",
                               "response 200 application/json", "payment"),
}


def _pair(kind):
    mutate = PLANTED[kind][0]
    old = copy.deepcopy(BASE)
    new = copy.deepcopy(BASE)
    result = mutate(new)
    if isinstance(result, tuple):  # the builder needs its own old document
        old, new = mutate(copy.deepcopy(BASE))
    return old, new


def _write(tmp_path: Path, name: str, document: dict, as_yaml: bool = False) -> Path:
    path = tmp_path / (f"{name}.yaml" if as_yaml else f"{name}.json")
    path.write_text(yaml.safe_dump(document) if as_yaml else json.dumps(document))
    return path


def _diff_cli(old: Path, new: Path, *extra: str):
    return CliRunner().invoke(main, ["contracts", "diff", str(old), str(new), *extra])


def test_every_breaking_kind_has_a_planted_change():
    breaking = {kind for kind, (severity, _) in KINDS.items() if severity == BREAKING}
    assert breaking == set(PLANTED)


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_planted_breaking_change_is_caught(tmp_path, kind):
    old, new = _pair(kind)
    result = _diff_cli(_write(tmp_path, "old", old), _write(tmp_path, "new", new, as_yaml=True), "--format", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    _, operation, where, field = PLANTED[kind]
    found = [c for c in report["changes"] if c["kind"] == kind]
    assert found, [c["kind"] for c in report["changes"]]
    assert any(c["operation"] == operation and c["where"] == where and c["field"] == field for c in found), found
    assert all(c["severity"] == BREAKING for c in found)
    assert report["breaking"] == sum(c["severity"] == BREAKING for c in report["changes"])


def test_document_against_itself_has_no_change(tmp_path):
    path = FIXTURES / "invoices-v1.yaml"
    result = _diff_cli(path, path)
    assert result.exit_code == 0
    assert "COMPATIBLE" in result.output


def test_additions_are_info_not_breaking(tmp_path):
    new = copy.deepcopy(BASE)
    new["paths"]["/customers"] = {"get": {"responses": {"200": {"description": "Customers."}}}}
    new["paths"]["/invoices"]["put"] = {"responses": {"204": {"description": "Replaced."}}}
    _list_params(new).append({"name": "customer_id", "in": "query", "schema": {"type": "string"}})
    _list_params(new)[1]["schema"]["enum"].append("uncollectible")  # more accepted input values
    _schemas(new)["NewInvoice"]["properties"]["due_s"] = {"type": "number"}  # optional input
    _schemas(new)["NewInvoice"]["properties"]["memo"]["maxLength"] = 1000  # looser input
    _schemas(new)["NewInvoice"]["properties"]["customer_id"]["type"] = ["string", "integer"]  # wider input
    _schemas(new)["Invoice"]["properties"]["due_s"] = {"type": "number"}  # new output field
    _schemas(new)["Invoice"]["properties"]["status"]["enum"].remove("void")  # fewer output values
    new["paths"]["/invoices/{id}"]["get"]["responses"]["410"] = {"description": "Gone."}
    result = _diff_cli(_write(tmp_path, "old", BASE), _write(tmp_path, "new", new), "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["breaking"] == 0
    kinds = {c["kind"] for c in report["changes"]}
    assert {"path_added", "operation_added", "parameter_added", "request_enum_widened", "request_property_added",
            "request_constraint_relaxed", "request_type_widened", "response_property_added",
            "response_enum_narrowed", "response_status_added"} <= kinds
    assert all(c["severity"] == INFO for c in report["changes"])


def test_direction_decides_what_breaks():
    """The same edit breaks a request and not a response, or the other way round."""
    integer_request = copy.deepcopy(BASE)  # number -> integer: narrower
    _schemas(integer_request)["NewInvoice"]["properties"]["amount_minor"]["type"] = "integer"
    number_response = copy.deepcopy(BASE)  # integer -> number: wider
    _schemas(number_response)["Line"]["properties"]["amount_minor"]["type"] = "number"
    kinds = {c.kind: c.severity for c in diff_documents(BASE, integer_request)}
    assert kinds == {"request_type_narrowed": BREAKING}
    # Line is used by both: in the request it accepts more (info), in responses it promises less (breaking).
    kinds = {(c.kind, c.severity) for c in diff_documents(BASE, number_response)}
    assert kinds == {("request_type_widened", INFO), ("response_type_widened", BREAKING)}


def test_path_parameter_renamed_is_the_same_endpoint():
    new = copy.deepcopy(BASE)
    item = new["paths"].pop("/invoices/{id}")
    item["parameters"][0]["name"] = "invoice_id"
    new["paths"]["/invoices/{invoice_id}"] = item
    assert diff_documents(BASE, new) == []


def test_nullable_of_openapi_30_and_31_read_alike():
    old = copy.deepcopy(BASE)
    new = copy.deepcopy(BASE)
    _schemas(old)["Invoice"]["properties"]["memo"] = {"type": "string", "nullable": True}
    _schemas(new)["Invoice"]["properties"]["memo"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert diff_documents(old, new) == []


def test_recursive_schemas_terminate():
    old = copy.deepcopy(BASE)
    _schemas(old)["Line"]["properties"]["children"] = {"type": "array", "items": {"$ref": "#/components/schemas/Line"}}
    new = copy.deepcopy(old)
    _schemas(new)["Line"]["properties"].pop("description")
    changes = diff_documents(old, new)
    assert {c.field for c in changes if c.kind == "response_property_removed"} >= {"lines[].description"}


def test_text_output_names_location_and_kind(tmp_path):
    result = _diff_cli(FIXTURES / "invoices-v1.yaml", FIXTURES / "invoices-v2.yaml")
    assert result.exit_code == 1
    assert ("POST /invoices  request body application/json  amount_minor  "
            "request_type_narrowed: type number -> integer") in result.output
    assert "BREAKING  8 breaking, 4 other" in result.output


@pytest.mark.parametrize(("content", "name", "reason"), [
    (None, "missing.json", "no such file"),
    ('{"openapi": "3.1.0",', "truncated.json", "not valid JSON"),
    ("openapi: [3.1\n  info: x", "broken.yaml", "neither JSON nor YAML"),
    ('["a list"]', "list.json", "the top level is a list"),
    ('{"name": "not an api"}', "other.json", "no 'openapi: 3.x' version key"),
    ('{"swagger": "2.0", "info": {}, "paths": {}}', "swagger.json", "Swagger 2.0 is not supported"),
    ('{"openapi": "3.1.0", "paths": {}}', "noinfo.json", "is a required property"),
    ('{"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "paths": {"/a": {"get": {"responses": '
     '{"200": {"$ref": "#/components/responses/Nope"}}}}}}', "dangling.json", "points to nothing"),
    ('{"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "paths": {"/a": {"get": {"responses": '
     '{"200": {"$ref": "other.yaml#/R"}}}}}}', "remote.json", "only local references"),
    # Each raised RecursionError: a traceback.
    ('{"openapi": "3.1.0", "x": ' + "[" * 5000 + "]" * 5000 + "}", "deep.json", "nested more than 100 levels deep"),
    ("openapi: 3.1.0\nx: " + "[" * 5000 + "]" * 5000 + "\n", "deep.yaml", "nested more than 100 levels deep"),
    ('{"openapi": "3.1.0", "x": ' + "[" * 101 + "]" * 101 + "}", "deeper.json", "nested more than 100 levels deep"),
    # A "billion laughs": nine aliases of nine aliases, nine levels, expanded as the differ walked it (it hung).
    ("openapi: 3.1.0\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
     + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)), "laughs.yaml",
     "alias *a0: YAML aliases are not supported in an OpenAPI document (use $ref) at line 3"),
    ("", "/dev/null", "is a character device, not a file"),
])
def test_bad_input_exits_2_naming_file_and_reason(tmp_path, content, name, reason):
    path = tmp_path / name
    if content:
        path.write_text(content)
    for old, new in ((path, FIXTURES / "invoices-v1.yaml"), (FIXTURES / "invoices-v1.yaml", path)):
        result = _diff_cli(old, new)
        assert result.exit_code == 2, result.output
        assert str(path) in result.output and reason in result.output, result.output
        assert "Traceback" not in result.output


def test_a_document_that_is_not_a_regular_file_is_refused_without_reading_it(tmp_path):
    """A FIFO blocked the command until something wrote to it."""
    fifo = tmp_path / "api.yaml"
    os.mkfifo(fifo)
    result = _diff_cli(fifo, FIXTURES / "invoices-v1.yaml")
    assert result.exit_code == 2, result.output
    assert f"{fifo}: is a FIFO (named pipe), not a file" in result.output


def test_a_schema_nested_as_deep_as_allowed_is_diffed(tmp_path):
    """The depth limit leaves room: 44 levels of properties (98 containers deep) validate and diff."""
    def document(leaf: str) -> dict:
        schema: dict = {"type": leaf}
        for _ in range(44):
            schema = {"type": "object", "properties": {"p": schema}}
        return {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/x": {"get": {"responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": schema}}}}}}}}

    result = _diff_cli(_write(tmp_path, "old", document("string")), _write(tmp_path, "new", document("integer")))
    assert result.exit_code == 1, result.output
    assert "BREAKING  1 breaking" in result.output


def test_alternatives_are_compared_when_the_union_also_declares_a_type():
    old = copy.deepcopy(BASE)
    _schemas(old)["Invoice"]["properties"]["payment"]["type"] = "object"
    new = copy.deepcopy(old)
    _add_wallet(new, "Invoice")
    _schemas(new)["Card"]["properties"].pop("last4")
    kinds = {(c.kind, c.field) for c in diff_documents(old, new) if c.operation == "GET /invoices/{id}"}
    assert ("response_variant_added", "payment") in kinds
    assert ("response_property_removed", "payment<Card>.last4") in kinds
