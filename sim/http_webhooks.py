"""Webhooks over HTTP: billing and payments POST each event to every configured endpoint, signed
the way Stripe signs (``rehearse.sync.signatures``), at least once, in no guaranteed order, retried
on the sender's schedule (``billing.webhook_retry_delays_s``, scenario seconds) until acknowledged
with a 2xx, then given up.

The delivery faults of the catalogue act here as they do in the simulated sender
(``rehearse.sim.webhooks``), on the live clock: ``webhook_duplicate``, ``webhook_delay``,
``webhook_drop`` (an attempt fails in transit), ``receiver_down`` (every attempt fails) and
``schema_drift`` (payloads in the platform's next API version). An answer that is not a 2xx, a
timeout or a refused connection is a failed attempt, retried the same way.

The trace gets the same records as in simulation (``webhook.failed`` with the reason,
``webhook.duplicated``, ``webhook.lost``, ``fault.injected``); it never sees a secret, a signature
or a header.

Attempts that are due wait in one first-in first-out queue worked off by at most `connections_max`
delivery workers, each sending on a keep-alive connection of its own, as a platform's webhook
workers do: at a billing peak thousands of events fall due within a second, and a task per attempt
would pile them up inside the HTTP client's connection pool, where their timeout would already be
running (`timeout_s` is for one attempt once it is on the wire).
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import time
from typing import NamedTuple

from rehearse.sim.distributions import LogNormal
from rehearse.sim.faults import FaultPlan
from rehearse.sim.http1 import AnswerTimeout, Http1Client, Http1Error, Origin, split_url
from rehearse.sim.http_faults import Clock
from rehearse.sync import signatures, wire
from rehearse.sync.model import Event

DELIVERY_TIMEOUT_S = 10.0  # wall seconds an endpoint has to answer one attempt
# Delivery workers (and so connections) at most: enough to keep an endpoint that answers once its
# store has committed (a loop turn or a few milliseconds later) busy, few enough that each worker's
# connection stays warm.
CONNECTIONS_MAX = 64


class WebhookEndpoint(NamedTuple):
    """Where events go and the secret they are signed with (never printed: see `__repr__`)."""

    url: str
    secret: str

    def __repr__(self) -> str:
        return f"WebhookEndpoint(url={self.url!r}, secret='***')"


class HttpWebhookSender:
    """Delivers events to endpoints over HTTP; counts attempts in transit, deliveries and losses."""

    def __init__(self, *, endpoints: list[WebhookEndpoint], clock: Clock, latency: LogNormal,
                 rng: random.Random, trace, faults: FaultPlan | None = None,
                 retry_delays_s: tuple[float, ...] = (), timeout_s: float = DELIVERY_TIMEOUT_S,
                 wall_clock=time.time, connections_max: int = CONNECTIONS_MAX) -> None:
        if connections_max < 1:
            raise ValueError("a webhook sender needs at least one connection")
        self.endpoints = list(endpoints)
        self.clock = clock
        self.latency = latency
        self.rng = rng
        self.trace = trace
        self.faults = faults if faults is not None else FaultPlan([])
        self.retry_delays_s = retry_delays_s
        self.timeout_s = timeout_s
        self.wall_clock = wall_clock  # signatures carry real Unix time: receivers compare with theirs
        self.in_transit = 0
        self.delivered = 0
        self.lost = 0
        self.last_lost_s = float("-inf")  # scenario time the sender last gave an event up
        self.connections_max = connections_max
        self._client: Http1Client | None = None
        self._targets: dict[str, tuple[Origin, bytes]] = {}  # endpoint URL -> where its requests go
        self._due: collections.deque[tuple[Event, bytes, WebhookEndpoint, int]] = collections.deque()
        self._workers: set[asyncio.Task] = set()
        self._waiting: collections.deque[asyncio.Future] = collections.deque()  # idle workers' wake-ups
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    def send(self, event: Event) -> None:
        """Queue an event for every endpoint (the platform's event log calls this)."""
        now = self.clock.now()
        rng = self.rng
        for fault in self.faults.active("schema_drift", now):
            self._injected(fault, event, now)
            if not isinstance(event.data, dict):  # converted once, however many drift windows overlap
                event = event._replace(data=wire.to_wire(event.data, wire.NEXT_VERSION))
        body = json.dumps(wire.envelope(event), separators=(",", ":")).encode()
        for endpoint in self.endpoints:
            delay_s = self.latency.sample_s()
            for fault in self.faults.active("webhook_delay", now):
                if rng.random() < fault.probability:
                    delay_s += fault.delay_s_min + rng.random() * (fault.delay_s_max - fault.delay_s_min)
                    self._injected(fault, event, now)
            self._later(delay_s, event, body, endpoint, 1)
            for fault in self.faults.active("webhook_duplicate", now):
                if rng.random() < fault.probability:
                    self._injected(fault, event, now)
                    copy_delay_s = delay_s + rng.random() * fault.delay_s_max
                    self.trace.emit(now, "webhook.duplicated", object_id=event.id, ref_id=_object_id(event),
                                    code=event.type, value=copy_delay_s)
                    self._later(copy_delay_s, event, body, endpoint, 1)

    def _later(self, delay_s: float, event: Event, body: bytes, endpoint: WebhookEndpoint, attempt: int) -> None:
        if attempt == 1:
            self.in_transit += 1
            self._idle.clear()
        loop = asyncio.get_running_loop()
        loop.call_later(self.clock.wall_s(delay_s), self._start, event, body, endpoint, attempt)

    def _start(self, event: Event, body: bytes, endpoint: WebhookEndpoint, attempt: int) -> None:
        """An attempt fell due: queue it for the next free worker (a new one while under the cap)."""
        if self._closed:
            return
        self._due.append((event, body, endpoint, attempt))
        waiting = self._waiting
        while waiting:
            wake = waiting.popleft()
            if not wake.done():
                wake.set_result(None)
                return
        if len(self._workers) < self.connections_max:
            task = asyncio.get_running_loop().create_task(self._work())
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)

    async def _work(self) -> None:
        """One delivery worker: attempts due deliveries one at a time, oldest first."""
        due = self._due
        loop = asyncio.get_running_loop()
        while not self._closed:  # not only cancellation: asyncio can lose a cancel in a race
            if not due:
                wake = loop.create_future()
                self._waiting.append(wake)
                await wake
                continue
            await self._attempt(*due.popleft())

    def _injected(self, fault, event: Event, now: float) -> None:
        self.trace.emit(now, "fault.injected", object_id=_object_id(event), code=fault.kind, detail=fault.name)

    async def _attempt(self, event: Event, body: bytes, endpoint: WebhookEndpoint, attempt: int) -> None:
        now = self.clock.now()
        reason = ""
        for fault in self.faults.active("receiver_down", now):
            reason = "receiver_down"
            self._injected(fault, event, now)
        if not reason:
            for fault in self.faults.active("webhook_drop", now):
                if self.rng.random() < fault.probability:
                    reason = "dropped"
                    self._injected(fault, event, now)
        if not reason:
            reason = await self._post(body, endpoint)
            if not reason:
                self._finished()
                self.delivered += 1
                return
        now = self.clock.now()
        if attempt <= len(self.retry_delays_s):
            self.trace.emit(now, "webhook.failed", object_id=event.id, ref_id=_object_id(event), code=reason,
                            value=float(attempt))
            self._later(self.retry_delays_s[attempt - 1], event, body, endpoint, attempt + 1)
            return
        self._finished()
        self.lost += 1
        self.last_lost_s = now
        self.trace.emit(now, "webhook.lost", object_id=event.id, ref_id=_object_id(event), code=event.type,
                        value=float(attempt))

    async def _post(self, body: bytes, endpoint: WebhookEndpoint) -> str:
        """One signed POST; "" when acknowledged, else why not."""
        client = self._client
        if client is None:  # one connection per worker, so a request never waits for one
            client = self._client = Http1Client(connections_max=self.connections_max, timeout_s=self.timeout_s)
        target = self._targets.get(endpoint.url)
        if target is None:
            target = self._targets[endpoint.url] = split_url(endpoint.url)
        header = signatures.sign(body, endpoint.secret, int(self.wall_clock()))
        try:
            response = await client.request(target[0], b"POST", target[1], body, {
                "Content-Type": "application/json", signatures.HEADER: header})
        except AnswerTimeout:
            return "timeout"
        except Http1Error:
            return "connect_error"
        return "" if 200 <= response.status < 300 else "not_acknowledged"

    def _finished(self) -> None:
        self.in_transit -= 1
        if self.in_transit == 0:
            self._idle.set()

    async def drained(self) -> None:
        """Wait until no event is in transit (delivered or given up)."""
        await self._idle.wait()

    async def aclose(self) -> None:
        """Stop: cancel attempts under way and close the connections."""
        self._closed = True
        self._due.clear()
        for task in list(self._workers):
            task.cancel()
        while self._waiting:  # an idle worker whose cancel was lost wakes, sees `_closed` and ends
            wake = self._waiting.popleft()
            if not wake.done():
                wake.set_result(None)
        if self._client is not None:
            await self._client.close()  # a request under way ends with AnswerLost
        await asyncio.gather(*self._workers, return_exceptions=True)


def _object_id(event: Event) -> str:
    data = event.data
    return data["id"] if isinstance(data, dict) else data.id
