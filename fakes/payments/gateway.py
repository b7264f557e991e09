"""The payment gateway fake, after Stripe Payments: one payment intent per invoice, one charge
per attempt; card results are known at once (soft and hard declines)."""

from __future__ import annotations

import random as _random_module  # only for the type; the instance is seeded by the world
from typing import NamedTuple

from rehearse.fakes.events import EventLog
from rehearse.fakes.payments.states import HARD_DECLINES, PAYMENT_INTENT, SOFT_DECLINES
from rehearse.sync.model import Charge, Invoice


class PaymentSettings(NamedTuple):
    """Outcome probabilities of a charge attempt."""

    success_probability: float = 0.95  # first attempt
    retry_success_probability: float = 0.5  # dunning retries
    hard_decline_share: float = 0.15  # of declines, how many are hard (no retry)


class PaymentsGateway:
    """Charges invoices. State: payment intents by invoice, charges by id."""

    def __init__(self, *, settings: PaymentSettings, rng: _random_module.Random, events: EventLog, trace) -> None:
        self.settings = settings
        self.rng = rng
        self.events = events
        self.trace = trace
        self.intent_states: dict[str, str] = {}  # invoice id -> payment intent state
        self.charges: dict[str, Charge] = {}
        self._charge_count = 0

    def charge(self, invoice: Invoice, attempt: int, now_s: float) -> Charge:
        """Attempt to collect an invoice's amount due; returns the charge (succeeded or failed)."""
        machine = PAYMENT_INTENT
        state = self.intent_states.get(invoice.id, "requires_payment_method")
        state = machine.next(state, "attach_method")
        state = machine.next(state, "confirm")
        settings = self.settings
        success_probability = settings.success_probability if attempt == 1 else settings.retry_success_probability
        rng = self.rng
        if rng.random() < success_probability:
            state, status, decline = machine.next(state, "succeed"), "succeeded", ""
        else:
            codes = HARD_DECLINES if rng.random() < settings.hard_decline_share else SOFT_DECLINES
            state, status, decline = machine.next(state, "fail"), "failed", codes[int(rng.random() * len(codes))]
        self.intent_states[invoice.id] = state
        self._charge_count += 1
        charge = Charge(
            f"ch_{self._charge_count}", invoice.id, invoice.customer_id, invoice.entity, invoice.currency,
            invoice.total_minor - invoice.amount_paid_minor, status, decline, now_s,
        )
        self.charges[charge.id] = charge
        if status == "succeeded":
            self.trace.emit(now_s, "payments.charge_succeeded", object_id=charge.id, parent_id=invoice.id,
                            entity=charge.entity, currency=charge.currency, amount_minor=charge.amount_minor)
            self.events.publish("charge.succeeded", now_s, charge)
        else:
            self.trace.emit(now_s, "payments.charge_failed", object_id=charge.id, parent_id=invoice.id,
                            entity=charge.entity, currency=charge.currency, amount_minor=charge.amount_minor,
                            code=decline)
            self.events.publish("charge.failed", now_s, charge)
        return charge

    @staticmethod
    def is_hard_decline(charge: Charge) -> bool:
        """Whether a failed charge must not be retried."""
        return charge.decline_code in HARD_DECLINES
