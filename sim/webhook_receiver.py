"""The engine's webhook endpoint over HTTP: an ASGI app that verifies each delivery's Stripe-style
signature (``rehearse.sync.signatures``: forged, unsigned and stale deliveries are refused with a
400 and never reach the engine), turns the envelope into an `Event` and hands it to the engine's
``receive``. 200 when the engine acknowledged it, 503 when it did not (an engine that is down), so
the sender retries. With a durable Store that commits in groups, `flushed` (``GroupCommit.flushed``)
is awaited before the 200: a delivery is acknowledged only once the change that records it is
committed, and refused with a 503 (``not_committed``) when the engine died before that.

Refusals are counted by reason in `Receiver.refused`; nothing logs a header, a signature or the
secret.

The endpoint is a bare ASGI callable rather than a framework app: one path, one method, and at a
billing peak it takes thousands of deliveries a second on the engine's own event loop, where a
framework's routing and middleware stack cost as much as the verification itself. Any other path is
a 404, any other method a 405 (with ``Allow: POST``), as a framework would answer.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rehearse.sync import signatures
from rehearse.sync.model import Event

WEBHOOK_PATH = "/webhooks"


class Receiver:
    """The endpoint's state: the secret it checks with and what it refused."""

    def __init__(self, *, secret: str, receive: Callable[[Event], bool | Awaitable[bool]],
                 wall_clock: Callable[[], float] = time.time, tolerance_s: float = signatures.TOLERANCE_S,
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

    def _refuse(self, kind: str, message: str, status: int = 400) -> tuple[int, bytes]:
        self.refused[kind] = self.refused.get(kind, 0) + 1
        return status, _json({"error": {"code": kind, "message": message}})

    async def handle(self, body: bytes, header: str | None) -> tuple[int, bytes]:
        """Verify, parse and hand over one delivery (its body and signature header); returns the
        HTTP status and JSON body to answer with."""
        try:
            signatures.verify(body, header, self._secret, self.wall_clock(), self.tolerance_s)
        except signatures.SignatureError as error:
            kind = "unsigned" if not header else "stale" if "tolerance" in error.reason else "bad_signature"
            return self._refuse(kind, error.reason)
        try:
            event = _event(json.loads(body))
        except (ValueError, KeyError, TypeError) as error:
            return self._refuse("malformed", f"not a webhook event: {error}")
        acknowledged = self.receive(event)
        if inspect.isawaitable(acknowledged):  # an inline handler (p2p) answers once it has posted
            acknowledged = await acknowledged
        if not acknowledged:
            return self._refuse("not_acknowledged", "the engine is not taking deliveries", 503)
        if self.flushed is not None and not await self.flushed():
            return self._refuse("not_committed", "the engine stopped before recording the delivery", 503)
        self.accepted += 1
        return 200, RECEIVED


def _event(envelope: Any) -> Event:
    if not isinstance(envelope, dict) or envelope.get("object") != "event":
        raise ValueError("expected an object of type event")
    payload = envelope["data"]["object"]
    if not isinstance(payload, dict):
        raise ValueError("data.object must be an object")
    created = envelope["created"]
    if (not isinstance(envelope["id"], str) or not isinstance(envelope["type"], str)
            or not isinstance(created, (int, float))):
        raise ValueError("id and type must be strings, created a number")
    return Event(envelope["id"], envelope["type"], float(created), payload)


def _json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


RECEIVED = _json({"received": True})
_SIGNATURE_HEADER = signatures.HEADER.lower().encode("latin-1")


async def _answer(send, status: int, body: bytes, extra_headers: tuple = ()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *extra_headers]})
    await send({"type": "http.response.body", "body": body})


def create_receiver_app(receiver: Receiver, path: str = WEBHOOK_PATH):
    """The ASGI app of one endpoint: POST `path` only."""

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return  # served with lifespan off: nothing else reaches it
        if scope["path"] != path:
            await _answer(send, 404, _json({"detail": "Not Found"}))
            return
        if scope["method"] != "POST":
            await _answer(send, 405, _json({"detail": "Method Not Allowed"}), ((b"allow", b"POST"),))
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the sender gave up before the body arrived: nothing was received
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        header = next((value.decode("latin-1") for name, value in scope["headers"] if name == _SIGNATURE_HEADER),
                      None)
        status, body = await receiver.handle(b"".join(chunks), header)
        await _answer(send, status, body)

    return app
