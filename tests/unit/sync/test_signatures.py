"""Stripe-style webhook signatures: made, checked, and refused when forged, missing or stale."""

from __future__ import annotations

import pytest

from rehearse.sync.signatures import SignatureError, sign, verify

BODY = b'{"id":"evt_1","object":"event"}'
SECRET = "whsec_test_0123456789"
T = 1_800_000_000


def test_a_signature_verifies_and_returns_its_timestamp() -> None:
    header = sign(BODY, SECRET, T)
    assert header.startswith(f"t={T},v1=") and len(header.split("v1=")[1]) == 64
    assert verify(BODY, header, SECRET, T + 299) == T


@pytest.mark.parametrize("header, now, reason", [
    (None, T, "no Stripe-Signature header"),
    ("", T, "no Stripe-Signature header"),
    ("v1=abc", T, "malformed"),
    (f"t={T}", T, "malformed"),
    (sign(BODY, "whsec_other", T), T, "does not match"),  # forged: another secret
    (sign(BODY + b" ", SECRET, T), T, "does not match"),  # body changed after signing
    (sign(BODY, SECRET, T), T + 301, "tolerance"),  # stale: replayed after five minutes
    (sign(BODY, SECRET, T), T - 301, "tolerance"),
])
def test_refusals(header, now, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason) as raised:
        verify(BODY, header, SECRET, now)
    assert SECRET not in str(raised.value)


def test_one_matching_v1_of_several_is_enough() -> None:
    good = sign(BODY, SECRET, T).split(",")[1]
    assert verify(BODY, f"t={T},v1={'0' * 64},{good}", SECRET, T) == T
