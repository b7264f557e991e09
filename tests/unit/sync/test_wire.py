"""Payloads by API version: round trips, renamed fields, and clear errors for what cannot be read."""

import pytest

from rehearse.sync.model import Address, Charge, Customer, Invoice, InvoiceLine
from rehearse.sync.wire import CURRENT_VERSION, NEXT_VERSION, WireError, from_wire, to_wire

INVOICE = Invoice("in_1", "cus_1", "sub_1", "US01", "USD", "paid",
                  (InvoiceLine("growth (month)", "subscription", 4900, 368, 1.0, 2.0),),
                  4900, 368, 5268, 5268, 1.0, 2.0)
CHARGE = Charge("ch_1", "in_1", "cus_1", "US01", "USD", 5268, "succeeded", "", 3.0)
CUSTOMER = Customer("cus_1", "US01", "USD", "Acme", "a@example.us",
                    Address("1 Main St", "Springfield", "IL", "62701", "US"), 0.0)


@pytest.mark.parametrize("record", [INVOICE, CHARGE, CUSTOMER])
@pytest.mark.parametrize("version", [CURRENT_VERSION, NEXT_VERSION])
def test_every_record_survives_a_round_trip_in_every_version(record, version):
    assert from_wire(to_wire(record, version), (CURRENT_VERSION, NEXT_VERSION)) == record


def test_the_next_version_renames_fields():
    payload = to_wire(INVOICE, NEXT_VERSION)
    assert "amount_total_minor" in payload and "total_minor" not in payload
    assert to_wire(CHARGE, NEXT_VERSION)["amount_in_minor"] == 5268


def test_an_unsupported_version_is_an_error_not_wrong_data():
    with pytest.raises(WireError, match="2026-07"):
        from_wire(to_wire(INVOICE, NEXT_VERSION), (CURRENT_VERSION,))


def test_missing_fields_and_unknown_objects_are_named():
    payload = to_wire(CHARGE, CURRENT_VERSION)
    del payload["amount_minor"]
    with pytest.raises(WireError, match="amount_minor"):
        from_wire(payload, (CURRENT_VERSION,))
    with pytest.raises(WireError, match="refund"):
        from_wire({"object": "refund", "api_version": CURRENT_VERSION}, (CURRENT_VERSION,))
