"""Every webhook event the simulation emits validates against the checked-in schema of its API
version, whatever the seed, schema drift included; and any record the model can hold does too."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rehearse.contracts.event_schemas import EVENT_TYPES, FIELD_ENUMS, VERSIONS, object_of, validate_event
from rehearse.contracts.rehearsal import SteppedWorld, load_scenario
from rehearse.sync import wire
from rehearse.sync.model import Address, Charge, Customer, Event, Invoice, InvoiceLine, Subscription

# The smoke scenario's renewal peak only, with the next API version sent for part of it and some
# webhooks delivered twice.
SHORT_SMOKE = [
    "run.traffic_days=0.2", "traffic.subscriptions=150", "traffic.new_deals_per_day=40",
    'faults=[{kind="schema_drift", window={start="2026-02-01T00:30:00Z", end="2026-02-01T02:00:00Z"}}, '
    '{kind="webhook_duplicate", probability=0.05}]',
]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**31))
def test_every_event_of_a_smoke_run_validates(seed):
    world = SteppedWorld(load_scenario("smoke", SHORT_SMOKE), seed, record_events=True)
    try:
        world.run_for(hours=4)
    finally:
        world.close()
    versions = {event["api_version"] for event in world.events}
    assert versions == set(VERSIONS)  # both versions were exercised
    for event in world.events:
        assert validate_event(event) == [], event


_text = st.text(max_size=12)
_money = st.integers(min_value=-10**12, max_value=10**12)
_time = st.floats(min_value=0, max_value=4e9, allow_nan=False)


def _enum(record, field):
    return st.sampled_from(FIELD_ENUMS[(record, field)])


_currency = st.sampled_from(["USD", "EUR", "GBP", "JPY"])
_line = st.builds(InvoiceLine, _text, _enum(InvoiceLine, "kind"), _money, _money, _time, _time)
_records = st.one_of(
    st.builds(Customer, _text, _text, _currency, _text, _text,
              st.builds(Address, _text, _text, _text, _text, _text), _time),
    st.builds(Subscription, _text, _text, _text, _currency, _text, _enum(Subscription, "status"), _time, _time,
              st.booleans()),
    st.builds(Invoice, _text, _text, _text, _text, _currency, _enum(Invoice, "status"),
              st.lists(_line, max_size=3).map(tuple), _money, _money, _money, _money, _time, _time,
              _enum(Invoice, "tax_status"), st.integers(0, 3)),
    st.builds(Charge, _text, _text, _text, _text, _currency, _money, _enum(Charge, "status"),
              _enum(Charge, "decline_code"), _time, _enum(Charge, "method"), _time),
)


@given(record=_records, version=st.sampled_from(VERSIONS), data=st.data())
def test_any_model_record_on_the_wire_validates_and_reads_back(record, version, data):
    payload = wire.to_wire(record, version)
    object_name = payload["object"]
    event_type = data.draw(st.sampled_from([t for t in EVENT_TYPES if object_of(t) == object_name]))
    event = wire.envelope(Event("evt_1", event_type, 1.0, payload))
    assert validate_event(event) == []
    assert wire.from_wire(payload, (version,)) == record
