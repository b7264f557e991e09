"""The JSON Schemas of the webhook events: checked in, in step with the code, valid JSON Schema,
and strict enough to refuse what the engine could not read."""

from __future__ import annotations

import json

from click.testing import CliRunner
from jsonschema import Draft202012Validator

from rehearse.contracts import event_schemas
from rehearse.sim.cli import main
from rehearse.sync import wire
from rehearse.sync.model import Charge, Event, Invoice, InvoiceLine


def _invoice(**changes) -> Invoice:
    line = InvoiceLine("Growth, Feb 2026", "subscription", 4900, 0, 1769904000.0, 1772323200.0)
    invoice = Invoice("in_1", "cus_1", "sub_1", "US01", "USD", "open", (line,), 4900, 0, 4900, 0,
                      1769904000.0, 1769907600.0)
    return invoice._replace(**changes)


def test_checked_in_schemas_match_the_code():
    assert event_schemas.check_schemas() == []


def test_check_command_fails_on_drift(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["contracts", "schemas", "--dir", str(tmp_path)]).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-01.json", "2026-07.json"]
    ok = runner.invoke(main, ["contracts", "schemas", "--check", "--dir", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    drifted = json.loads((tmp_path / "2026-07.json").read_text())
    drifted["$defs"]["charge"]["properties"].pop("amount_in_minor")  # as if the code renamed a field
    (tmp_path / "2026-07.json").write_text(json.dumps(drifted, indent=2) + "\n")
    (tmp_path / "2025-01.json").write_text("{}\n")
    result = runner.invoke(main, ["contracts", "schemas", "--check", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "2026-07.json: differs from the schema generated" in result.output
    assert "2025-01.json: no API version generates this file" in result.output
    (tmp_path / "2026-01.json").unlink()
    result = runner.invoke(main, ["contracts", "schemas", "--check", "--dir", str(tmp_path)])
    assert "2026-01.json: missing" in result.output


def test_schemas_are_valid_json_schema():
    for name in event_schemas.generated_schemas():
        Draft202012Validator.check_schema(json.loads((event_schemas.EVENTS_DIR / name).read_text()))


def test_every_event_type_maps_to_an_object_of_the_wire():
    assert {event_schemas.object_of(t) for t in event_schemas.EVENT_TYPES} == {
        "charge", "customer", "invoice", "subscription"}


def test_a_conforming_event_passes_in_both_versions():
    for version in event_schemas.VERSIONS:
        payload = wire.envelope(Event("evt_1", "invoice.paid", 1.0, wire.to_wire(_invoice(), version)))
        assert event_schemas.validate_event(payload) == []


def test_violations_name_the_field():
    base = wire.envelope(Event("evt_1", "invoice.finalized", 1.0, _invoice()))
    bad_status = json.loads(json.dumps(base))
    bad_status["data"]["object"]["status"] = "settled"
    assert event_schemas.validate_event(bad_status) == ["$.data.object.status: 'settled' is not one of "
                                                        "['draft', 'open', 'paid', 'void', 'uncollectible']"]
    float_money = json.loads(json.dumps(base))
    float_money["data"]["object"]["total_minor"] = 49.5
    assert event_schemas.validate_event(float_money) == ["$.data.object.total_minor: 49.5 is not of type 'integer'"]
    wrong_object = dict(base, type="charge.succeeded")
    assert "$.data.object.object: 'charge' was expected" in event_schemas.validate_event(wrong_object)
    unknown_type = dict(base, type="invoice.exploded")
    assert any(line.startswith("$.type:") for line in event_schemas.validate_event(unknown_type))
    extra = json.loads(json.dumps(base))
    extra["data"]["object"]["surprise"] = 1
    assert any("surprise" in line for line in event_schemas.validate_event(extra))
    future = json.loads(json.dumps(base))
    future["api_version"] = "2027-01"
    assert event_schemas.validate_event(future) == ["api_version: '2027-01' is not one of ['2026-01', '2026-07']"]
    mixed = json.loads(json.dumps(base))
    mixed["data"]["object"]["api_version"] = "2026-07"  # the envelope says 2026-01, its payload 2026-07
    assert "$.data.object.api_version: '2026-01' was expected" in event_schemas.validate_event(mixed)
    stripped = json.loads(json.dumps(base))
    del stripped["object"]
    assert event_schemas.validate_event(stripped) == ["$: 'object' is a required property"]


def test_the_schema_describes_what_the_http_sender_posts():
    """The body `rehearse serve` POSTs to an endpoint is the envelope the schema describes."""
    event = Event("evt_9", "invoice.finalized", 1.5, _invoice())
    body = json.loads(json.dumps(wire.envelope(event), separators=(",", ":")))
    assert body["object"] == "event" and body["data"]["object"]["id"] == _invoice().id
    assert event_schemas.validate_event(body) == []


def test_next_version_renames_top_level_fields_only():
    charge = Charge("ch_1", "in_1", "cus_1", "US01", "USD", 4900, "succeeded", "", 2.0)
    payload = wire.envelope(Event("evt_2", "charge.succeeded", 2.0,
                                                wire.to_wire(charge, wire.NEXT_VERSION)))
    assert "amount_in_minor" in payload["data"]["object"] and event_schemas.validate_event(payload) == []
    canonical = json.loads(json.dumps(payload))
    canonical["data"]["object"]["amount_minor"] = canonical["data"]["object"].pop("amount_in_minor")
    assert event_schemas.validate_event(canonical)  # a 2026-07 payload with 2026-01 names is refused


def test_schemas_into_a_file_is_bad_input(tmp_path):
    target = tmp_path / "events.json"
    target.write_text("{}")
    result = CliRunner().invoke(main, ["contracts", "schemas", "--dir", str(target)])
    assert result.exit_code == 2
    assert f"Invalid value for '--dir': Directory '{target}' is a file" in result.output
