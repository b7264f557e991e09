"""Unit tests of webhook delivery (at least once, sometimes twice, in no guaranteed order) and of the
in-process ERP client over the real ERP fake (latency on the runtime's clock, the 429 gate, the
injected 503 and lost reply, ERP error answers, one `erp.call` record per call)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import simpy

from rehearse.fakes.erp import DUP_RCRD, INVALID_KEY_OR_REF, SSS_REQUEST_LIMIT_EXCEEDED, Erp
from rehearse.sim.distributions import LogNormal
from rehearse.sim.erp_client import REJECTION_LATENCY_S, InProcessErpClient
from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.simpy_runtime import SimPyRuntime
from rehearse.sim.faults import FaultPlan, ReplyLost, ServerError, WebhookDuplicate
from rehearse.sim.webhooks import WebhookSender
from rehearse.sync.errors import ErpError, ErpTimeout
from rehearse.sync.model import Address, Customer, Event, Invoice, InvoiceLine, parse_utc
from rehearse.sync.rules import customer_document, invoice_document

START_S = parse_utc("2026-01-15T10:00:00Z")
LATENCY_S = 0.2
RETRY_AFTER_S = 2.5


def make_customer(customer_id: str = "cus_1") -> Customer:
    address = Address("1 Main St", "Springfield", "CA", "90001", "US")
    return Customer(customer_id, "US01", "USD", "Acme", "ap@acme.test", address, START_S - 3600)


def make_invoice(invoice_id: str = "in_1", customer_id: str = "cus_1") -> Invoice:
    line = InvoiceLine("Pro plan", "subscription", 10_000, 800, START_S, parse_utc("2026-02-15T10:00:00Z"))
    return Invoice(invoice_id, customer_id, "sub_1", "US01", "USD", "open", (line,), 10_000, 800, 10_800, 0,
                   START_S - 60, START_S - 30)


def make_event(index: int) -> Event:
    return Event(f"evt_{index}", "customer.created", START_S, make_customer(f"cus_{index}"))


def erp_calls(trace: TraceRecorder) -> list[tuple]:
    frame = trace.frame().filter(kind="erp.call")
    return frame.select("t_s", "object_id", "code", "value").rows()


# -- webhooks -------------------------------------------------------------------------------------


class Setup:
    """A SimPy runtime, a trace and a sender whose receiver notes (time, event id) per delivery."""

    def __init__(self, *, duplicate_probability: float = 0.0, p50_ms: float = 100.0, p95_ms: float = 2000.0,
                 seed: int = 3) -> None:
        self.runtime = SimPyRuntime(simpy.Environment(initial_time=START_S))
        self.trace = TraceRecorder()
        self.received: list[tuple[float, str]] = []
        self.sender = WebhookSender(
            runtime=self.runtime, latency=LogNormal(p50_ms, p95_ms, random.Random(seed)),
            rng=random.Random(seed + 1), receiver=self.receive, trace=self.trace,
            faults=FaultPlan([WebhookDuplicate(kind="webhook_duplicate", probability=duplicate_probability,
                                               delay_s_max=30.0)]),
        )

    def receive(self, event: Event) -> bool:
        self.received.append((self.runtime.now(), event.id))
        return True


def test_every_event_is_delivered_once_without_duplicates_after_its_latency():
    setup = Setup(p50_ms=250.0, p95_ms=250.0)  # a constant 0.25 s
    events = [make_event(index) for index in range(20)]
    for event in events:
        setup.sender.send(event)
    assert setup.received == []  # nothing is delivered synchronously
    setup.runtime.env.run()
    assert sorted(event_id for _, event_id in setup.received) == sorted(event.id for event in events)
    assert {t_s for t_s, _ in setup.received} == {START_S + 0.25}
    assert setup.sender.delivered == 20 and setup.sender.in_transit == 0
    assert setup.trace.frame().height == 0


def test_duplicate_probability_one_delivers_every_event_twice_and_traces_the_copy():
    setup = Setup(duplicate_probability=1.0)
    events = [make_event(index) for index in range(10)]
    for event in events:
        setup.sender.send(event)
    assert setup.sender.in_transit == 20
    setup.runtime.env.run()
    assert Counter(event_id for _, event_id in setup.received) == {event.id: 2 for event in events}
    assert setup.sender.delivered == 20 and setup.sender.in_transit == 0

    duplicated = setup.trace.frame().filter(kind="webhook.duplicated")
    assert duplicated["object_id"].to_list() == [event.id for event in events]
    assert duplicated["ref_id"].to_list() == [event.data.id for event in events]
    assert set(duplicated["code"]) == {"customer.created"}
    assert set(duplicated["t_s"]) == {START_S}  # traced when sent
    # The copy arrives `value` seconds after the send, no earlier than the original.
    for event_id, delay_s in duplicated.select("object_id", "value").rows():
        first_s, second_s = sorted(t_s for t_s, received_id in setup.received if received_id == event_id)
        assert second_s == pytest.approx(START_S + delay_s)
        assert first_s <= second_s <= first_s + 30.0


def test_in_transit_counts_down_to_zero():
    setup = Setup(duplicate_probability=0.5)
    for index in range(30):
        setup.sender.send(make_event(index))
    sent = setup.sender.in_transit
    assert 30 < sent < 60
    samples: list[tuple[int, int]] = []

    async def watch():
        while setup.sender.in_transit:
            samples.append((setup.sender.in_transit, setup.sender.delivered))
            await setup.runtime.sleep(0.05)
        samples.append((setup.sender.in_transit, setup.sender.delivered))

    setup.runtime.spawn(watch())
    setup.runtime.env.run()
    in_transit = [count for count, _ in samples]
    assert in_transit == sorted(in_transit, reverse=True)
    assert len(set(in_transit)) > 2
    assert samples[-1] == (0, sent)
    assert all(count + delivered == sent for count, delivered in samples)


def test_random_latencies_can_reorder_deliveries():
    setup = Setup()
    events = [make_event(index) for index in range(50)]
    for event in events:
        setup.sender.send(event)
    setup.runtime.env.run()
    delivered = [event_id for _, event_id in setup.received]
    assert sorted(delivered) == sorted(event.id for event in events)
    assert delivered != [event.id for event in events]
    assert [t_s for t_s, _ in setup.received] == sorted(t_s for t_s, _ in setup.received)


# -- ERP client -----------------------------------------------------------------------------------


class Client:
    """An ERP fake, a client on a SimPy runtime with a constant latency, and one shared trace."""

    def __init__(self, *, concurrency_limit: int = 5, faults: tuple = ()) -> None:
        self.env = simpy.Environment(initial_time=START_S)
        self.runtime = SimPyRuntime(self.env)
        self.trace = TraceRecorder()
        self.erp = Erp(entities={"US01": "USD"}, concurrency_limit=concurrency_limit, trace=self.trace,
                       retry_after_s=RETRY_AFTER_S)
        latency = LogNormal(LATENCY_S * 1000, LATENCY_S * 1000, random.Random(0))
        self.client = InProcessErpClient(runtime=self.runtime, erp=self.erp, latency=latency,
                                         rng=random.Random(1), trace=self.trace, faults=FaultPlan(list(faults)))

    def call(self, coroutine):
        """Run one client call to its end; return its result or raise its error."""
        outcome: dict = {}

        async def capture():
            try:
                outcome["result"] = await coroutine
            except Exception as error:  # noqa: BLE001 - re-raised below, outside SimPy
                outcome["error"] = error

        self.runtime.spawn(capture())
        self.env.run()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]


def test_a_post_takes_the_sampled_latency_in_virtual_time():
    client = Client()
    internal_id = client.call(client.client.post(customer_document(make_customer())))
    assert client.env.now == pytest.approx(START_S + LATENCY_S)
    assert client.erp.customers["cus_1"].internal_id == internal_id
    assert client.erp.in_flight == 0
    assert erp_calls(client.trace) == [(pytest.approx(START_S + LATENCY_S), "cus_1", "201", LATENCY_S)]
    document = client.trace.frame().filter(kind="erp.document")
    assert document["t_s"].to_list() == [pytest.approx(START_S + LATENCY_S)]  # applied when it arrives


def test_a_request_over_the_concurrency_limit_raises_429_with_retry_after():
    client = Client(concurrency_limit=2)
    client.call(client.client.post(customer_document(make_customer())))
    started_s = client.env.now
    outcomes: dict[str, object] = {}

    async def post(invoice_id: str):
        try:
            outcomes[invoice_id] = await client.client.post(invoice_document(make_invoice(invoice_id)))
        except ErpError as error:
            outcomes[invoice_id] = error

    for invoice_id in ("in_1", "in_2", "in_3"):
        client.runtime.spawn(post(invoice_id))
    client.env.run()
    rejected = outcomes["in_3"]
    assert isinstance(rejected, ErpError)
    assert (rejected.status, rejected.code, rejected.retry_after_s) == (429, SSS_REQUEST_LIMIT_EXCEEDED,
                                                                        RETRY_AFTER_S)
    assert sorted(client.erp.invoices) == ["in_1", "in_2"]
    assert client.erp.in_flight == 0
    assert erp_calls(client.trace)[1:] == [
        (pytest.approx(started_s + REJECTION_LATENCY_S), "in_3", "429", REJECTION_LATENCY_S),
        (pytest.approx(started_s + LATENCY_S), "in_1", "201", LATENCY_S),
        (pytest.approx(started_s + LATENCY_S), "in_2", "201", LATENCY_S),
    ]


def test_a_lookup_over_the_concurrency_limit_raises_429():
    client = Client(concurrency_limit=1)
    client.erp.other_load = 1  # another client of the account holds the only slot
    with pytest.raises(ErpError) as raised:
        client.call(client.client.lookup("customer", "cus_1"))
    assert (raised.value.status, raised.value.retry_after_s) == (429, RETRY_AFTER_S)
    assert client.env.now == pytest.approx(START_S + REJECTION_LATENCY_S)
    assert client.erp.in_flight == 0
    assert erp_calls(client.trace) == [
        (pytest.approx(START_S + REJECTION_LATENCY_S), "cus_1", "lookup 429", REJECTION_LATENCY_S),
    ]


def test_unavailable_probability_one_raises_503_and_applies_nothing():
    client = Client(faults=(ServerError(kind="server_error", probability=1.0, status=503),))
    with pytest.raises(ErpError) as raised:
        client.call(client.client.post(customer_document(make_customer())))
    assert (raised.value.status, raised.value.code) == (503, "SERVICE_UNAVAILABLE")
    assert len(client.erp.customers) == 0 and client.erp.documents_count() == 0
    assert client.erp.in_flight == 0
    assert erp_calls(client.trace) == [(pytest.approx(START_S + LATENCY_S), "cus_1", "503", LATENCY_S)]
    assert client.trace.frame().filter(kind="erp.document").height == 0


def test_a_lost_reply_raises_timeout_but_the_erp_has_the_document():
    client = Client(faults=(ReplyLost(kind="reply_lost", probability=1.0),))
    with pytest.raises(ErpTimeout, match="cus_1"):
        client.call(client.client.post(customer_document(make_customer())))
    internal_id = client.erp.customers["cus_1"].internal_id
    assert client.erp.in_flight == 0
    assert client.call(client.client.lookup("customer", "cus_1")) == internal_id
    assert [code for _, _, code, _ in erp_calls(client.trace)] == ["201", "lookup 200"]


def test_erp_error_answers_raise_erp_error_with_their_code():
    client = Client()
    with pytest.raises(ErpError) as raised:
        client.call(client.client.post(invoice_document(make_invoice())))  # its customer is missing
    assert (raised.value.status, raised.value.code) == (400, INVALID_KEY_OR_REF)
    client.call(client.client.post(customer_document(make_customer())))
    client.call(client.client.post(invoice_document(make_invoice())))
    with pytest.raises(ErpError) as raised:
        client.call(client.client.post(invoice_document(make_invoice())))
    assert (raised.value.status, raised.value.code) == (400, DUP_RCRD)
    assert client.erp.in_flight == 0
    assert sorted(client.erp.invoices) == ["in_1"]


def test_every_call_is_traced_as_erp_call():
    client = Client()
    post, lookup = client.client.post, client.client.lookup
    customer_id = client.call(post(customer_document(make_customer())))
    assert client.call(post(customer_document(make_customer()._replace(name="Acme Inc")))) == customer_id
    client.call(post(invoice_document(make_invoice())))
    assert client.call(lookup("invoice", "in_1")) is not None
    assert client.call(lookup("invoice", "in_404")) is None
    with pytest.raises(ErpError):
        client.call(post(invoice_document(make_invoice())))
    calls = erp_calls(client.trace)
    assert [(object_id, code) for _, object_id, code, _ in calls] == [
        ("cus_1", "201"), ("cus_1", "200"), ("in_1", "201"), ("in_1", "lookup 200"),
        ("in_404", "lookup 404"), ("in_1", DUP_RCRD),
    ]
    # Calls run one after another, each taking the latency.
    assert [t_s for t_s, _, _, _ in calls] == pytest.approx([START_S + LATENCY_S * n for n in range(1, 7)])
    assert {value for _, _, _, value in calls} == {LATENCY_S}
