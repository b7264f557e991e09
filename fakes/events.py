"""The platform's event log: every state change of billing and payments becomes one `Event` with a
unique id, handed to whoever delivers webhooks. Ids are sequential, so runs are reproducible."""

from __future__ import annotations

from collections.abc import Callable

from rehearse.sync.model import Event


class EventLog:
    """Numbers events and passes each to `deliver` (the webhook sender)."""

    __slots__ = ("deliver", "count")

    def __init__(self, deliver: Callable[[Event], None]) -> None:
        self.deliver = deliver
        self.count = 0

    def publish(self, event_type: str, created_s: float, data) -> Event:
        """Create an event for a snapshot and hand it to the sender."""
        self.count += 1
        event = Event(f"evt_{self.count}", event_type, created_s, data)
        self.deliver(event)
        return event
