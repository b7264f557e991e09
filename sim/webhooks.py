"""Webhook delivery, as billing platforms do it: every event is sent at least once, after a
latency, in no guaranteed order; a failed attempt is retried on the sender's schedule (about three
days in all), after which the event is given up.

Delivery faults of the fault plan act here: ``webhook_duplicate`` (a second copy), ``webhook_delay``
(held back, so it arrives out of order), ``webhook_drop`` (an attempt fails in transit) and
``receiver_down`` (every attempt fails while the engine's endpoint is down). An attempt the
receiver does not acknowledge (an engine that is down) is retried the same way.

A receiver answers at once (True: 2xx, False: an error status), or, for an inline handler that
does its work before answering, with an awaitable: the sender then waits for it at most
`WEBHOOK_TIMEOUT_S`; an answer that comes later is not heard, and the attempt counts as failed.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

from rehearse.sim.distributions import LogNormal
from rehearse.sim.faults import FaultPlan
from rehearse.sync import wire
from rehearse.sync.model import Event
from rehearse.sync.ports import Runtime

# How long the sender waits for an answer. Sources disagree on Stripe's figure (3 s to 30 s in
# third-party write-ups; Stripe's own page says only "promptly"); 20 s sits in that range. Only an
# inline handler (the p2p pattern) ever comes near it.
WEBHOOK_TIMEOUT_S = 20.0


def _object_id(event: Event) -> str:
    """The id of the object an event carries, whether its payload is a record or a wire dict (an
    event sent in another API version)."""
    data = event.data
    return data["id"] if isinstance(data, dict) else data.id


class WebhookSender:
    """Schedules deliveries and retries of each event; counts attempts still pending."""

    def __init__(
        self, *, runtime: Runtime, latency: LogNormal, rng: random.Random,
        receiver: Callable[[Event], bool | Awaitable[bool]], trace, faults: FaultPlan | None = None,
        retry_delays_s: tuple[float, ...] = (), timeout_s: float = WEBHOOK_TIMEOUT_S,
    ) -> None:
        self.runtime = runtime
        self.latency = latency
        self.rng = rng
        self.receiver = receiver
        self.trace = trace
        self.faults = faults if faults is not None else FaultPlan([])
        self.retry_delays_s = retry_delays_s
        self.timeout_s = timeout_s
        self.in_transit = 0
        self.delivered = 0
        self.lost = 0
        self.last_lost_s = float("-inf")

    def send(self, event: Event) -> None:
        """Queue an event for delivery (called by the platform's event log)."""
        runtime = self.runtime
        now = runtime.now()
        rng = self.rng
        for fault in self.faults.active("schema_drift", now):
            self._injected(fault, event)
            if not isinstance(event.data, dict):  # converted once, however many drift windows overlap
                event = event._replace(data=wire.to_wire(event.data, wire.NEXT_VERSION))
        delay_s = self.latency.sample_s()
        for fault in self.faults.active("webhook_delay", now):
            if rng.random() < fault.probability:
                delay_s += fault.delay_s_min + rng.random() * (fault.delay_s_max - fault.delay_s_min)
                self._injected(fault, event)
        self.in_transit += 1
        runtime.call_later(delay_s, self._attempt, event, 1)
        for fault in self.faults.active("webhook_duplicate", now):
            if rng.random() < fault.probability:
                self._injected(fault, event)
                copy_delay_s = delay_s + rng.random() * fault.delay_s_max
                self.in_transit += 1
                self.trace.emit(now, "webhook.duplicated", object_id=event.id, ref_id=_object_id(event),
                                code=event.type, value=copy_delay_s)
                runtime.call_later(copy_delay_s, self._attempt, event, 1)

    def _injected(self, fault, event: Event) -> None:
        self.trace.emit(self.runtime.now(), "fault.injected", object_id=_object_id(event), code=fault.kind,
                        detail=fault.name)

    def _attempt(self, event: Event, attempt: int) -> None:
        now = self.runtime.now()
        reason = ""
        for fault in self.faults.active("receiver_down", now):
            reason = "receiver_down"
            self._injected(fault, event)
        if not reason:
            for fault in self.faults.active("webhook_drop", now):
                if self.rng.random() < fault.probability:
                    reason = "dropped"
                    self._injected(fault, event)
        if not reason:
            answer = self.receiver(event)
            if answer is True:
                self.in_transit -= 1
                self.delivered += 1
                return
            if answer is not False:  # an inline handler: wait for its answer, up to the timeout
                pending = [True]
                self.runtime.spawn(self._await_answer(event, attempt, answer, pending))
                self.runtime.call_later(self.timeout_s, self._time_out, event, attempt, pending)
                return
            reason = "not_acknowledged"
        self._failed(event, attempt, reason)

    async def _await_answer(self, event: Event, attempt: int, answer: Awaitable[bool], pending: list[bool]) -> None:
        acknowledged = await answer
        if not pending[0]:
            return  # the sender stopped waiting: this answer reaches nobody
        pending[0] = False
        if acknowledged:
            self.in_transit -= 1
            self.delivered += 1
        else:
            self._failed(event, attempt, "not_acknowledged")

    def _time_out(self, event: Event, attempt: int, pending: list[bool]) -> None:
        if pending[0]:
            pending[0] = False
            self._failed(event, attempt, "timeout")

    def _failed(self, event: Event, attempt: int, reason: str) -> None:
        """An attempt failed: retry on the schedule, or give the event up."""
        now = self.runtime.now()
        if attempt <= len(self.retry_delays_s):
            retry_in_s = self.retry_delays_s[attempt - 1]
            self.trace.emit(now, "webhook.failed", object_id=event.id, ref_id=_object_id(event), code=reason,
                            value=float(attempt))
            self.runtime.call_later(retry_in_s, self._attempt, event, attempt + 1)
            return
        self.in_transit -= 1
        self.lost += 1
        self.last_lost_s = now
        self.trace.emit(now, "webhook.lost", object_id=event.id, ref_id=_object_id(event), code=event.type,
                        value=float(attempt))
