"""Webhook delivery: every platform event reaches the receiver at least once, after a latency,
in no guaranteed order, and sometimes twice (the duplicate fault)."""

from __future__ import annotations

import random
from collections.abc import Callable

from rehearse.sim.distributions import LogNormal
from rehearse.sync.model import Event
from rehearse.sync.ports import Runtime


class WebhookSender:
    """Schedules deliveries of each event; counts those still in transit."""

    def __init__(
        self, *, runtime: Runtime, latency: LogNormal, rng: random.Random, duplicate_probability: float,
        duplicate_delay_s_max: float, receiver: Callable[[Event], bool], trace,
    ) -> None:
        self.runtime = runtime
        self.latency = latency
        self.rng = rng
        self.duplicate_probability = duplicate_probability
        self.duplicate_delay_s_max = duplicate_delay_s_max
        self.receiver = receiver
        self.trace = trace
        self.in_transit = 0
        self.delivered = 0

    def send(self, event: Event) -> None:
        """Queue an event for delivery (called by the platform's event log)."""
        delay_s = self.latency.sample_s()
        self.in_transit += 1
        self.runtime.call_later(delay_s, self._deliver, event)
        if self.duplicate_probability and self.rng.random() < self.duplicate_probability:
            extra_s = self.rng.random() * self.duplicate_delay_s_max
            self.in_transit += 1
            self.trace.emit(self.runtime.now(), "webhook.duplicated", object_id=event.id,
                            ref_id=event.data.id, code=event.type, value=delay_s + extra_s)
            self.runtime.call_later(delay_s + extra_s, self._deliver, event)

    def _deliver(self, event: Event) -> None:
        self.in_transit -= 1
        self.delivered += 1
        self.receiver(event)
