"""The engine's webhook endpoint over HTTP: an ASGI app that verifies each delivery's Stripe-style
signature (``rehearse.sync.signatures``: forged, unsigned and stale deliveries are refused with a
400 and never reach the engine), turns the envelope into an `Event` and hands it to the engine's
``receive``. 200 when the engine acknowledged it, 503 when it did not (an engine that is down), so
the sender retries. With a durable Store that commits in groups, `flushed` (``GroupCommit.flushed``)
is awaited before the 200: a delivery is acknowledged only once the change that records it is
committed, and refused with a 503 (``not_committed``) when the engine died before that.

Refusals are counted by reason in `Receiver.refused`; nothing logs a header, a signature or the
secret.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from rehearse.sync import signatures
from rehearse.sync.model import Event

WEBHOOK_PATH = "/webhooks"


class Receiver:
    """The endpoint's state: the secret it checks with and what it refused."""

    def __init__(self, *, secret: str, receive: Callable[[Event], bool], wall_clock: Callable[[], float] = time.time,
                 tolerance_s: float = signatures.TOLERANCE_S,
                 flushed: Callable[[], Awaitable[bool]] | None = None) -> None:
        if not secret:
            raise ValueError("a webhook endpoint needs a signing secret")
        self._secret = secret
        self.receive = receive
        self.wall_clock = wall_clock
        self.tolerance_s = tolerance_s
        self.flushed = flushed
        self.accepted = 0
        self.refused: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"Receiver(accepted={self.accepted}, refused={self.refused})"

    def _refuse(self, kind: str, message: str, status: int = 400) -> JSONResponse:
        self.refused[kind] = self.refused.get(kind, 0) + 1
        return JSONResponse({"error": {"code": kind, "message": message}}, status_code=status)

    async def handle(self, request: Request) -> JSONResponse:
        """Verify, parse and hand over one delivery."""
        body = await request.body()
        header = request.headers.get(signatures.HEADER)
        try:
            signatures.verify(body, header, self._secret, self.wall_clock(), self.tolerance_s)
        except signatures.SignatureError as error:
            kind = "unsigned" if not header else "stale" if "tolerance" in error.reason else "bad_signature"
            return self._refuse(kind, error.reason)
        try:
            event = _event(json.loads(body))
        except (ValueError, KeyError, TypeError) as error:
            return self._refuse("malformed", f"not a webhook event: {error}")
        if not self.receive(event):
            return self._refuse("not_acknowledged", "the engine is not taking deliveries", 503)
        if self.flushed is not None and not await self.flushed():
            return self._refuse("not_committed", "the engine stopped before recording the delivery", 503)
        self.accepted += 1
        return JSONResponse({"received": True})


def _event(envelope: Any) -> Event:
    if not isinstance(envelope, dict) or envelope.get("object") != "event":
        raise ValueError("expected an object of type event")
    payload = envelope["data"]["object"]
    if not isinstance(payload, dict):
        raise ValueError("data.object must be an object")
    created = envelope["created"]
    if not isinstance(envelope["id"], str) or not isinstance(envelope["type"], str) or not isinstance(created, (int, float)):
        raise ValueError("id and type must be strings, created a number")
    return Event(envelope["id"], envelope["type"], float(created), payload)


def create_receiver_app(receiver: Receiver, path: str = WEBHOOK_PATH) -> Starlette:
    """The ASGI app of one endpoint."""
    return Starlette(routes=[Route(path, receiver.handle, methods=["POST"])])
