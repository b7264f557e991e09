"""JSON Schemas of the webhook events the engine receives, generated from the canonical model.

An event travels as Stripe's event object, ``{"id", "object": "event", "type", "created",
"api_version", "data": {"object": <payload>}}`` (`rehearse.sync.wire.envelope`: the body `rehearse
serve` POSTs to a webhook endpoint), where the payload is the record in one API version
(`rehearse.sync.wire.to_wire`). There is one schema per API version,
built from the `NamedTuple` annotations of `rehearse.sync.model` (str -> string, int -> integer,
float -> number, bool -> boolean, tuple[X, ...] -> array, a nested NamedTuple -> object), with the
version's renamed fields (`wire.RENAMED`), the states of the fakes' state machines as enums, and
the event types the engine understands. A field is required when the model gives it no default,
as `wire.from_wire` reads it. `check_schemas` compares the generated schemas with the files
checked in under ``contracts/events/``, so code and documents cannot drift apart unnoticed.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any, NamedTuple

from rehearse.contracts.documents import drift, write_whole
from rehearse.fakes.billing.states import INVOICE_STATES, SUBSCRIPTION_STATES
from rehearse.fakes.payments.gateway import ACH_DEBIT, CARD
from rehearse.fakes.payments.states import BANK_RETURN_CODE, HARD_DECLINES, SOFT_DECLINES
from rehearse.sync import rules, wire
from rehearse.sync.model import Charge, Customer, Invoice, InvoiceLine, Subscription

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
VERSIONS = (wire.CURRENT_VERSION, wire.NEXT_VERSION)
EVENTS_DIR = Path(__file__).parent / "events"

# Every event type the engine acts on or knowingly ignores (its vocabulary, from the posting rules).
EVENT_TYPES: tuple[str, ...] = tuple(sorted(
    rules.IGNORED_EVENT_TYPES | rules.INVOICE_EVENT_TYPES
    | {"charge.succeeded", "charge.reversed", "customer.created"}))

# The closed vocabularies of some fields: (record, field) -> allowed values.
FIELD_ENUMS: dict[tuple[type, str], tuple] = {
    (Subscription, "status"): SUBSCRIPTION_STATES,
    (Invoice, "status"): INVOICE_STATES,
    (Invoice, "tax_status"): ("complete", "requires_location_inputs"),
    (InvoiceLine, "kind"): ("subscription", "proration"),
    (Charge, "status"): ("succeeded", "failed", "reversed"),
    (Charge, "decline_code"): ("", *SOFT_DECLINES, *HARD_DECLINES, BANK_RETURN_CODE),
    (Charge, "method"): (CARD, ACH_DEBIT),
}
_CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$"}
_SCALARS = {str: {"type": "string"}, int: {"type": "integer"}, float: {"type": "number"}, bool: {"type": "boolean"}}
_OBJECTS = {"customer": Customer, "subscription": Subscription, "invoice": Invoice, "charge": Charge}


def object_of(event_type: str) -> str:
    """The wire object an event type carries ("customer.subscription.updated" -> "subscription")."""
    if event_type.startswith("customer.subscription."):
        return "subscription"
    return event_type.split(".", 1)[0]


def _is_record(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, tuple) and hasattr(annotation, "_fields")


def _field_schema(record: type, name: str, annotation: Any, renamed: dict[str, str]) -> dict[str, Any]:
    if (record, name) in FIELD_ENUMS:
        return {"type": "string", "enum": list(FIELD_ENUMS[(record, name)])}
    if name == "currency":
        return dict(_CURRENCY)
    if annotation in _SCALARS:
        return dict(_SCALARS[annotation])
    if _is_record(annotation):
        return record_schema(annotation)  # a version renames top-level fields only, as to_wire does
    if typing.get_origin(annotation) is tuple:
        item, *rest = typing.get_args(annotation)
        if rest == [Ellipsis]:
            return {"type": "array", "items": _field_schema(record, name, item, renamed)}
    raise TypeError(f"{record.__name__}.{name}: no JSON Schema for the annotation {annotation!r}")


def record_schema(record: type[NamedTuple], renamed: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON object schema of a NamedTuple record, with its fields renamed as a version asks."""
    renamed = renamed or {}
    hints = typing.get_type_hints(record)
    properties = {renamed.get(name, name): _field_schema(record, name, hints[name], renamed)
                  for name in record._fields}
    required = [renamed.get(name, name) for name in record._fields if name not in record._field_defaults]
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required,
                              "additionalProperties": False}
    if record.__doc__:
        schema["description"] = " ".join(record.__doc__.split())
    return schema


def payload_schema(object_name: str, version: str) -> dict[str, Any]:
    """The schema of one record's webhook payload in an API version (`wire.to_wire`'s output)."""
    schema = record_schema(_OBJECTS[object_name], wire.RENAMED.get(version, {}))
    schema["properties"] = {"object": {"const": object_name}, "api_version": {"const": version},
                            **schema["properties"]}
    schema["required"] = ["object", "api_version", *schema["required"]]
    return schema


def event_schema(version: str) -> dict[str, Any]:
    """The schema of a webhook event (`wire.envelope`) whose payload is in `version`."""
    objects = sorted({object_of(event_type) for event_type in EVENT_TYPES})
    return {
        "$schema": SCHEMA_DIALECT,
        "title": f"rehearse webhook event, API version {version}",
        "description": "A webhook event as it travels over HTTP (Stripe's event object): an id unique per "
                       "event (not per delivery), its type, when it happened (Unix seconds), the API version "
                       "of its payload, and the object's snapshot under data.object.",
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "object": {"const": "event"},
            "type": {"type": "string", "enum": list(EVENT_TYPES)},
            "created": {"type": "number"},
            "api_version": {"const": version},
            # Every type names its object, so the payload's schema is chosen by the type (below).
            "data": {"type": "object", "properties": {"object": {"type": "object"}}, "required": ["object"],
                     "additionalProperties": False},
        },
        "required": ["id", "object", "type", "created", "api_version", "data"],
        "additionalProperties": False,
        "allOf": [
            {"if": {"properties": {"type": {"enum": [t for t in EVENT_TYPES if object_of(t) == name]}}},
             "then": {"properties": {"data": {"properties": {"object": {"$ref": f"#/$defs/{name}"}}}}}}
            for name in objects
        ],
        "$defs": {name: payload_schema(name, version) for name in objects},
    }


def generated_schemas() -> dict[str, dict[str, Any]]:
    """File name -> schema, for every API version."""
    return {f"{version}.json": event_schema(version) for version in VERSIONS}


def _text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def write_schemas(directory: Path = EVENTS_DIR) -> list[Path]:
    """Write the generated schemas (the files checked in), all or none; returns the paths written."""
    return write_whole(directory, {name: _text(schema) for name, schema in generated_schemas().items()})


def check_schemas(directory: Path = EVENTS_DIR) -> list[str]:
    """Where the checked-in schemas differ from the code: one line per file (empty when in step).
    Raises `OSError` when a file cannot be read."""
    problems = []
    expected = generated_schemas()
    hints = {"missing": "missing (run `rehearse contracts schemas` to write it)",
             "differs": "differs from the schema generated from rehearse.sync.model (run `rehearse contracts schemas` "
                        "and review the diff)"}
    for name, why in drift(directory, {name: _text(schema) for name, schema in expected.items()}):
        problems.append(f"{directory / name}: {hints[why]}")
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else ():
        if path.name not in expected:
            problems.append(f"{path}: no API version generates this file any more")
    return problems


_VALIDATORS: dict[str, Any] = {}


def validate_event(payload: dict[str, Any]) -> list[str]:
    """Violations of a wire event against the checked-in schema of its payload's API version, one
    line each with the JSON path (empty when it conforms)."""
    from jsonschema import Draft202012Validator

    version = payload.get("api_version") if isinstance(payload, dict) else None
    if version not in VERSIONS:
        return [f"api_version: {version!r} is not one of {list(VERSIONS)}"]
    validator = _VALIDATORS.get(version)
    if validator is None:
        schema = json.loads((EVENTS_DIR / f"{version}.json").read_text(encoding="utf-8"))
        validator = _VALIDATORS[version] = Draft202012Validator(schema)
    return [f"{error.json_path}: {error.message}"
            for error in sorted(validator.iter_errors(payload), key=lambda e: list(map(str, e.absolute_path)))]
