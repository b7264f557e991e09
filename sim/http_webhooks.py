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
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any, NamedTuple

import aiohttp

from rehearse.sim.distributions import LogNormal
from rehearse.sim.faults import FaultPlan
from rehearse.sim.http_faults import LiveClock
from rehearse.sync import signatures, wire
from rehearse.sync.model import Event

DELIVERY_TIMEOUT_S = 10.0  # wall seconds an endpoint has to answer one attempt


class WebhookEndpoint(NamedTuple):
    """Where events go and the secret they are signed with (never printed: see `__repr__`)."""

    url: str
    secret: str

    def __repr__(self) -> str:
        return f"WebhookEndpoint(url={self.url!r}, secret='***')"


class HttpWebhookSender:
    """Delivers events to endpoints over HTTP; counts attempts in transit, deliveries and losses."""

    def __init__(self, *, endpoints: list[WebhookEndpoint], clock: LiveClock, latency: LogNormal,
                 rng: random.Random, trace, faults: FaultPlan | None = None,
                 retry_delays_s: tuple[float, ...] = (), timeout_s: float = DELIVERY_TIMEOUT_S,
                 wall_clock=time.time) -> None:
        self.endpoints = list(endpoints)
        self.clock = clock
        self.latency = latency
        self.rng = rng
        self.trace = trace
        self.faults = faults or FaultPlan([])
        self.retry_delays_s = retry_delays_s
        self.timeout_s = timeout_s
        self.wall_clock = wall_clock  # signatures carry real Unix time: receivers compare with theirs
        self.in_transit = 0
        self.delivered = 0
        self.lost = 0
        self.last_lost_s = float("-inf")  # scenario time the sender last gave an event up
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    def send(self, event: Event) -> None:
        """Queue an event for every endpoint (the platform's event log calls this)."""
        now = self.clock.now()
        rng = self.rng
        for fault in self.faults.active("schema_drift", now):
            self._injected(fault, event, now)
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
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._attempt(event, body, endpoint, attempt))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        header = signatures.sign(body, endpoint.secret, int(self.wall_clock()))
        try:
            async with self._session.post(endpoint.url, data=body, headers={
                    "Content-Type": "application/json", signatures.HEADER: header}) as response:
                await response.read()
                return "" if 200 <= response.status < 300 else "not_acknowledged"
        except asyncio.TimeoutError:
            return "timeout"
        except aiohttp.ClientError:
            return "connect_error"

    def _finished(self) -> None:
        self.in_transit -= 1
        if self.in_transit == 0:
            self._idle.set()

    async def drained(self) -> None:
        """Wait until no event is in transit (delivered or given up)."""
        await self._idle.wait()

    async def aclose(self) -> None:
        """Stop: cancel attempts under way and close the HTTP session."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


def _object_id(event: Event) -> str:
    data = event.data
    return data["id"] if type(data) is dict else data.id
