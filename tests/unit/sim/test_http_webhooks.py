"""Webhooks over HTTP: the engine's endpoint refuses forged, unsigned and stale deliveries; the
sender delivers at least once, signed, with the catalogue's delivery faults; no secret reaches the
trace."""

from __future__ import annotations

import asyncio
import json
import time

import polars as pl

from rehearse.sim.distributions import LogNormal
from rehearse.sim.faults import FaultPlan, WebhookDuplicate, WebhookDrop
from rehearse.sim.http_faults import LiveClock
from rehearse.sim.http_webhooks import HttpWebhookSender, WebhookEndpoint
from rehearse.sync.wire import envelope
from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.seeds import stream
from rehearse.sim.serving import serving
from rehearse.sim.webhook_receiver import WEBHOOK_PATH, Receiver, create_receiver_app
from rehearse.sync import signatures, wire
from rehearse.sync.model import Address, Customer, Event

SECRET = "whsec_never_in_a_trace_4f1c"
CUSTOMER = Customer("cus_1", "US01", "USD", "Acme", "a@acme.example", Address("1 Main", "Austin", "TX", "73301", "US"),
                    1769817600.0)
EVENT = Event("evt_1", "customer.created", 1769817600.0, CUSTOMER)


def _delivery(secret: str = SECRET, at: float | None = None, header: bool = True):
    body = json.dumps(envelope(EVENT)).encode()
    headers = {signatures.HEADER: signatures.sign(body, secret, int(at if at is not None else time.time()))}
    return body, headers if header else {}


def _post(app, body: bytes, headers: dict):
    async def go():
        scope_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        received = []

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            received.append(message)

        await app({"type": "http", "method": "POST", "path": WEBHOOK_PATH, "raw_path": WEBHOOK_PATH.encode(),
                   "query_string": b"", "headers": scope_headers, "scheme": "http", "server": ("127.0.0.1", 80),
                   "root_path": "", "http_version": "1.1"}, receive, send)
        return received[0]["status"], json.loads(received[1]["body"])

    return asyncio.run(go())


def _receiver(acknowledge: bool = True) -> tuple[Receiver, list[Event]]:
    got: list[Event] = []

    def receive(event: Event) -> bool:
        got.append(event)
        return acknowledge

    return Receiver(secret=SECRET, receive=receive), got


def test_a_signed_delivery_reaches_the_engine_as_a_wire_event() -> None:
    receiver, got = _receiver()
    status, body = _post(create_receiver_app(receiver), *_delivery())
    assert status == 200 and body == {"received": True}
    assert got[0].id == "evt_1" and got[0].type == "customer.created"
    assert wire.from_wire(got[0].data, (wire.CURRENT_VERSION,)) == CUSTOMER


def test_forged_signature_is_refused() -> None:
    receiver, got = _receiver()
    status, body = _post(create_receiver_app(receiver), *_delivery(secret="whsec_attacker"))
    assert status == 400 and body["error"]["code"] == "bad_signature" and not got


def test_unsigned_delivery_is_refused() -> None:
    receiver, got = _receiver()
    status, body = _post(create_receiver_app(receiver), *_delivery(header=False))
    assert status == 400 and body["error"]["code"] == "unsigned" and not got


def test_stale_signature_is_refused() -> None:
    receiver, got = _receiver()
    status, body = _post(create_receiver_app(receiver), *_delivery(at=time.time() - 301))
    assert status == 400 and body["error"]["code"] == "stale" and not got
    assert receiver.refused == {"stale": 1}
    assert SECRET not in repr(receiver) and SECRET not in json.dumps(body)


def test_an_engine_that_is_down_answers_503_so_the_sender_retries() -> None:
    receiver, got = _receiver(acknowledge=False)
    status, _ = _post(create_receiver_app(receiver), *_delivery())
    assert status == 503 and len(got) == 1


def test_an_inline_handler_is_awaited_before_the_delivery_is_answered() -> None:
    """The p2p pattern's receive returns a coroutine that posts to the ERP; the answer follows it."""
    steps: list[str] = []

    def receive(event: Event):
        async def handle() -> bool:
            await asyncio.sleep(0)
            steps.append("posted")
            return False  # the inline post failed: the sender must retry
        steps.append("received")
        return handle()

    status, _ = _post(create_receiver_app(Receiver(secret=SECRET, receive=receive)), *_delivery())
    assert steps == ["received", "posted"] and status == 503


def test_sender_delivers_at_least_once_over_http_with_faults_and_no_secret_in_the_trace() -> None:
    trace = TraceRecorder()
    attempts: list[str] = []

    def receive(event: Event) -> bool:
        attempts.append(event.id)
        return attempts.count(event.id) > 1 or event.id != "evt_2"  # evt_2's first attempt is not acknowledged

    receiver = Receiver(secret=SECRET, receive=receive)

    async def scenario() -> HttpWebhookSender:
        async with serving(create_receiver_app(receiver)) as base_url:
            clock = LiveClock(1769817600.0, speedup=1000.0)
            plan = FaultPlan([WebhookDuplicate(kind="webhook_duplicate", probability=1.0, delay_s_max=5.0),
                              WebhookDrop(kind="webhook_drop", probability=0.3)])
            sender = HttpWebhookSender(endpoints=[WebhookEndpoint(base_url + WEBHOOK_PATH, SECRET)], clock=clock,
                                       latency=LogNormal(50.0, 200.0, stream(1, "w")), rng=stream(1, "f"),
                                       trace=trace, faults=plan, retry_delays_s=(5.0, 10.0, 20.0, 40.0, 80.0))
            for number in (1, 2, 3):
                sender.send(EVENT._replace(id=f"evt_{number}"))
            await asyncio.wait_for(sender.drained(), 30)
            await sender.aclose()
            return sender

    sender = asyncio.run(scenario())
    assert sender.in_transit == 0 and sender.lost == 0 and sender.delivered == 6  # each event and its copy
    assert sorted(set(attempts)) == ["evt_1", "evt_2", "evt_3"]
    assert receiver.refused.get("not_acknowledged", 0) >= 1 and "bad_signature" not in receiver.refused
    frame = trace.frame()
    kinds = set(frame["kind"].to_list())
    assert {"webhook.duplicated", "webhook.failed", "fault.injected"} <= kinds
    for column in frame.columns:
        if frame[column].dtype == pl.String:
            assert not frame[column].str.contains(SECRET, literal=True).any(), column
    assert SECRET not in repr(WebhookEndpoint("http://x", SECRET))


def test_a_burst_is_worked_off_by_at_most_connections_max_workers_each_delivered_once() -> None:
    in_flight = {"now": 0, "max": 0}
    got: list[str] = []

    async def slow_receive(event: Event) -> bool:
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        await asyncio.sleep(0.002)
        in_flight["now"] -= 1
        got.append(event.id)
        return True

    receiver = Receiver(secret=SECRET, receive=slow_receive)

    async def scenario() -> HttpWebhookSender:
        async with serving(create_receiver_app(receiver)) as base_url:
            sender = HttpWebhookSender(endpoints=[WebhookEndpoint(base_url + WEBHOOK_PATH, SECRET)],
                                       clock=LiveClock(1769817600.0, speedup=1000.0),
                                       latency=LogNormal(1.0, 2.0, stream(1, "w")), rng=stream(1, "f"),
                                       trace=TraceRecorder(), connections_max=3)
            for number in range(60):
                sender.send(EVENT._replace(id=f"evt_{number}"))
            await asyncio.wait_for(sender.drained(), 30)
            await sender.aclose()
            return sender

    sender = asyncio.run(scenario())
    assert sender.delivered == 60 and sender.lost == 0
    assert sorted(got) == sorted(f"evt_{number}" for number in range(60))
    assert 1 <= in_flight["max"] <= 3
