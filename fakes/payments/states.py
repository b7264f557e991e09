"""Payment intent state machine, after Stripe Payments (DOMAIN.md section 3)."""

from __future__ import annotations

from rehearse.fakes.machine import StateMachine

PAYMENT_INTENT_STATES = (
    "requires_payment_method", "requires_confirmation", "requires_action", "processing",
    "requires_capture", "succeeded", "canceled",
)

_CANCELABLE = (
    "requires_payment_method", "requires_confirmation", "requires_action", "processing", "requires_capture",
)

PAYMENT_INTENT = StateMachine(
    "payment_intent",
    {
        ("requires_payment_method", "attach_method"): "requires_confirmation",
        ("requires_confirmation", "confirm"): "processing",
        ("requires_confirmation", "confirm_needs_action"): "requires_action",
        ("requires_action", "authenticate"): "processing",
        ("requires_action", "authentication_failed"): "requires_payment_method",
        ("processing", "succeed"): "succeeded",
        ("processing", "authorize"): "requires_capture",
        ("requires_capture", "capture"): "succeeded",
        ("processing", "fail"): "requires_payment_method",  # a failed attempt can be retried
        ("succeeded", "return"): "requires_payment_method",  # a bank debit returned days later
        **{(state, "cancel"): "canceled" for state in _CANCELABLE},
    },
    PAYMENT_INTENT_STATES,
)

SOFT_DECLINES = ("insufficient_funds", "generic_decline", "do_not_honor", "authentication_required")
HARD_DECLINES = ("fraudulent", "lost_card", "stolen_card")
BANK_RETURN_CODE = "R01"  # NACHA return reason: insufficient funds
