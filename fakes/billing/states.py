"""Billing state machines, after Stripe Billing (DOMAIN.md section 2)."""

from __future__ import annotations

from rehearse.fakes.machine import StateMachine

SUBSCRIPTION_STATES = (
    "incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused",
)

_CANCELABLE = ("trialing", "active", "past_due", "unpaid", "paused")

SUBSCRIPTION = StateMachine(
    "subscription",
    {
        ("incomplete", "invoice_paid"): "active",
        ("incomplete", "expire"): "incomplete_expired",  # first invoice unpaid for 23 h
        ("trialing", "trial_end"): "active",
        ("trialing", "trial_end_without_payment_method"): "paused",
        ("paused", "resume"): "active",
        ("active", "renew"): "active",
        ("past_due", "renew"): "past_due",  # renewals continue while past due
        ("active", "invoice_paid"): "active",
        ("active", "payment_failed"): "past_due",
        ("past_due", "payment_failed"): "past_due",
        ("past_due", "invoice_paid"): "active",
        ("unpaid", "invoice_paid"): "active",
        ("past_due", "retries_exhausted_cancel"): "canceled",
        ("past_due", "retries_exhausted_unpaid"): "unpaid",
        ("past_due", "retries_exhausted_leave"): "past_due",
        ("active", "change_price"): "active",
        ("past_due", "change_price"): "past_due",
        ("trialing", "change_price"): "trialing",
        **{(state, "cancel"): "canceled" for state in _CANCELABLE},
    },
    SUBSCRIPTION_STATES,
)

INVOICE_STATES = ("draft", "open", "paid", "void", "uncollectible")

INVOICE = StateMachine(
    "invoice",
    {
        ("draft", "finalize"): "open",
        ("open", "pay"): "paid",
        # Not in Stripe, where paid is final; platforms that book bank debits as paid on submission
        # (Chargebee, Zuora) reopen the invoice when the bank returns the debit.
        ("paid", "reopen"): "open",
        ("open", "void"): "void",
        ("open", "mark_uncollectible"): "uncollectible",
        ("uncollectible", "pay"): "paid",
        ("uncollectible", "void"): "void",
    },
    INVOICE_STATES,
)
