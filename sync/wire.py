"""The platform's wire format, by API version: how a record looks in a webhook payload.

Version "2026-01" uses the canonical field names; "2026-07" renames a few (the schema drift a
platform's next API version brings). `from_wire` reads only the versions it is told it supports
and raises `WireError` for the rest, so an engine meets drift as an error, not as wrong data.
"""

from __future__ import annotations

from typing import Any

from rehearse.sync.model import Address, Charge, Customer, Event, Invoice, InvoiceLine, Subscription

CURRENT_VERSION = "2026-01"
NEXT_VERSION = "2026-07"

_TYPES: dict[str, type[Customer] | type[Invoice] | type[Charge] | type[Subscription]] = {
    "customer": Customer, "invoice": Invoice, "charge": Charge, "subscription": Subscription,
}
_OBJECT_OF = {cls: name for name, cls in _TYPES.items()}
# Fields the next version renames: canonical name -> wire name.
RENAMED = {NEXT_VERSION: {"total_minor": "amount_total_minor", "amount_minor": "amount_in_minor"}}


class WireError(Exception):
    """A payload this reader cannot map: unknown version, object or field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def to_wire(record: Customer | Invoice | Charge | Subscription, version: str) -> dict[str, Any]:
    """A record as a webhook payload of `version`."""
    renamed = RENAMED.get(version, {})
    payload: dict[str, Any] = {"object": _OBJECT_OF[type(record)], "api_version": version}
    for name, value in record._asdict().items():
        if isinstance(value, Address):
            value = value._asdict()
        elif name == "lines":
            value = [line._asdict() for line in value]
        payload[renamed.get(name, name)] = value
    return payload


def envelope(event: Event) -> dict[str, Any]:
    """An event as it travels over HTTP, Stripe's event object: ``{"id", "object": "event", "type",
    "created", "api_version", "data": {"object": <payload>}}``. The payload is in the canonical
    version unless the sender already put it in another one (schema drift); `created` is the
    event's Unix seconds (virtual seconds under simulation, so it may have a fraction)."""
    data: Any = event.data  # mypy narrows on `type(data) is dict` only where it holds, not in the else
    payload = data if type(data) is dict else to_wire(data, CURRENT_VERSION)
    return {"id": event.id, "object": "event", "type": event.type, "created": event.created_s,
            "api_version": payload["api_version"], "data": {"object": payload}}


def from_wire(payload: dict[str, Any], supported: tuple[str, ...]) -> Customer | Invoice | Charge | Subscription:
    """The record in a payload, if its version is one of `supported`."""
    version = payload.get("api_version")
    if version not in supported:
        raise WireError(f"API version {version!r} is not one this engine maps (it maps {list(supported)})")
    cls = _TYPES.get(payload.get("object", ""))
    if cls is None:
        raise WireError(f"unknown object {payload.get('object')!r}")
    renamed = RENAMED.get(version, {})
    fields = {}
    for name in cls._fields:
        key = renamed.get(name, name)
        if key in payload:
            fields[name] = payload[key]
        elif name not in cls._field_defaults:
            raise WireError(f"{payload['object']} payload has no field {key!r}")
    if cls is Customer:
        fields["address"] = Address(**fields["address"])
    if cls is Invoice:
        fields["lines"] = tuple(InvoiceLine(**line) for line in fields["lines"])
    return cls(**fields)
