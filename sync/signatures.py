"""Webhook signatures as Stripe makes them: ``Stripe-Signature: t=<unix>,v1=<hex>`` where the hex
is HMAC-SHA256 of ``f"{t}.{body}"`` under the endpoint's secret. A receiver checks the signature in
constant time and refuses one whose timestamp is more than `TOLERANCE_S` from its clock (a replayed
delivery). Pure functions: the caller passes the time; nothing here logs or keeps the secret.
"""

from __future__ import annotations

import hashlib
import hmac

from rehearse.sync.errors import RehearseError

HEADER = "Stripe-Signature"
TOLERANCE_S = 300  # Stripe's SDKs refuse signatures older than five minutes


class SignatureError(RehearseError):
    """A delivery whose signature is missing, malformed, forged or stale. The message never
    contains the secret or the expected signature."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _digest(secret: str, timestamp: int, payload: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The signature header value for `payload` sent at `timestamp` (Unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, timestamp, payload)}"


def verify(payload: bytes, header: str | None, secret: str, now_s: float, tolerance_s: float = TOLERANCE_S) -> int:
    """Check a delivery's signature header; returns its timestamp or raises `SignatureError`.

    Several ``v1`` entries are allowed (a secret being rolled): one must match.
    """
    if not header:
        raise SignatureError(f"no {HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError(f"malformed {HEADER} header: needs t=<unix seconds> and v1=<hex>")
    expected = _digest(secret, timestamp, payload)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("signature does not match the payload")
    if abs(now_s - timestamp) > tolerance_s:
        raise SignatureError(f"signature timestamp is {abs(now_s - timestamp):.0f} s from now, over the "
                             f"{tolerance_s:.0f} s tolerance")
    return timestamp
