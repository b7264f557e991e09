"""The payment gateway fake, after Stripe Payments: one payment intent per invoice, one charge
per attempt; card results are known at once (soft and hard declines).

Two payment faults act here, drawn by the world through `PaymentFaults` (the gateway never reads
a fault plan itself):

- an unknown outcome: the call times out, and the attempt may or may not have been applied
  (`ChargeOutcomeUnknown`); the caller must look the attempt up by its idempotency key before
  trying again, as Kill Bill's UNKNOWN state requires;
- a bank-debit return: customers paying by ACH debit (a share of customers, `ach_share`) are
  booked as paid on submission, and a returned debit reverses the charge days later
  (``charge.reversed``), which reopens the invoice in billing.
"""

from __future__ import annotations

import random as _random_module  # only for the type; the instance is seeded by the world
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from rehearse.fakes.events import EventLog
from rehearse.fakes.shares import in_share
from rehearse.fakes.payments.states import BANK_RETURN_CODE, HARD_DECLINES, PAYMENT_INTENT, SOFT_DECLINES
from rehearse.sync.model import ACH_DEBIT, Charge, Invoice

CARD = "card"


class PaymentSettings(NamedTuple):
    """Outcome probabilities of a charge attempt, and how customers pay."""

    success_probability: float = 0.95  # first attempt
    retry_success_probability: float = 0.5  # dunning retries
    hard_decline_share: float = 0.15  # of declines, how many are hard (no retry)
    ach_share: float = 0.0  # of customers, how many pay by bank debit (the rest by card)


class UnknownOutcome(NamedTuple):
    """A timed-out charge call: whether the gateway applied it, and when a lookup can tell."""

    applied: bool
    lookup_after_s: float


class PaymentFaults(Protocol):
    """The payment faults the world injects; each answer is drawn once, when asked."""

    def unknown_outcome(self, invoice_id: str, now_s: float) -> UnknownOutcome | None:
        """Whether this charge call times out (None: it answers normally)."""

    def return_after_s(self, charge: Charge, now_s: float) -> float | None:
        """After how long the bank returns this succeeded debit (None: it is never returned)."""


class NoPaymentFaults:
    """No payment faults at all."""

    def unknown_outcome(self, invoice_id: str, now_s: float) -> UnknownOutcome | None:
        return None

    def return_after_s(self, charge: Charge, now_s: float) -> float | None:
        return None


class ChargeOutcomeUnknown(Exception):
    """The gateway did not answer: the charge with `idempotency_key` may or may not exist. Look it
    up after `lookup_after_s` before trying again."""

    def __init__(self, idempotency_key: str, lookup_after_s: float) -> None:
        super().__init__(idempotency_key, lookup_after_s)
        self.idempotency_key = idempotency_key
        self.lookup_after_s = lookup_after_s


class PaymentsGateway:
    """Charges invoices. State: payment intents by invoice, charges by id and by idempotency key."""

    def __init__(
        self, *, settings: PaymentSettings, rng: _random_module.Random, events: EventLog, trace,
        schedule: Callable[..., Any] | None = None, faults: PaymentFaults | None = None,
    ) -> None:
        self.settings = settings
        self.rng = rng
        self.events = events
        self.trace = trace
        self.schedule = schedule
        self.faults = faults or NoPaymentFaults()
        self.intent_states: dict[str, str] = {}  # invoice id -> payment intent state
        self.charges: dict[str, Charge] = {}
        self._by_key: dict[str, str] = {}  # idempotency key -> charge id
        self._charge_count = 0
        self.returns_pending = 0  # debits the bank will still return
        # Told when a bank returns a debit (billing reopens the invoice).
        self.on_return: Callable[[Charge, float], None] | None = None

    def method_of(self, customer_id: str) -> str:
        """How a customer pays: a stable share `ach_share` of customers by bank debit."""
        share = self.settings.ach_share
        if not share:
            return CARD
        # A hash of the id, not a draw: the same customer pays the same way on every attempt.
        return ACH_DEBIT if in_share(customer_id, share) else CARD

    def charge(self, invoice: Invoice, attempt: int, now_s: float, idempotency_key: str = "", *,
               new_intent: bool = False) -> Charge:
        """Attempt to collect an invoice's amount due; returns the charge (succeeded or failed).
        A repeated `idempotency_key` returns the charge it made. Raises `ChargeOutcomeUnknown`
        when the call times out, whether or not the charge was made. `new_intent` starts a new
        payment intent for the invoice (what a caller that lost track of the first one does)."""
        if idempotency_key and idempotency_key in self._by_key:
            return self.charges[self._by_key[idempotency_key]]
        unknown = self.faults.unknown_outcome(invoice.id, now_s)
        if unknown is not None and not unknown.applied:
            raise ChargeOutcomeUnknown(idempotency_key, unknown.lookup_after_s)
        charge = self._attempt(invoice, attempt, now_s, new_intent)
        if idempotency_key:
            self._by_key[idempotency_key] = charge.id
        if unknown is not None:  # applied, and the reply was lost
            raise ChargeOutcomeUnknown(idempotency_key, unknown.lookup_after_s)
        return charge

    def lookup(self, idempotency_key: str) -> Charge | None:
        """The charge made with an idempotency key, or None if there is none."""
        charge_id = self._by_key.get(idempotency_key)
        return None if charge_id is None else self.charges[charge_id]

    def _attempt(self, invoice: Invoice, attempt: int, now_s: float, new_intent: bool) -> Charge:
        machine = PAYMENT_INTENT
        state = ("requires_payment_method" if new_intent
                 else self.intent_states.get(invoice.id, "requires_payment_method"))
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
        method = self.method_of(invoice.customer_id)
        charge = Charge(
            f"ch_{self._charge_count}", invoice.id, invoice.customer_id, invoice.entity, invoice.currency,
            invoice.total_minor - invoice.amount_paid_minor, status, decline, now_s, method,
        )
        self.charges[charge.id] = charge
        if status == "succeeded":
            self.trace.emit(now_s, "payments.charge_succeeded", object_id=charge.id, parent_id=invoice.id,
                            entity=charge.entity, currency=charge.currency, amount_minor=charge.amount_minor)
            self.events.publish("charge.succeeded", now_s, charge)
            if method == ACH_DEBIT:
                return_after_s = self.faults.return_after_s(charge, now_s)
                if return_after_s is not None and self.schedule is not None:
                    self.returns_pending += 1
                    self.schedule(return_after_s, self._bank_return, charge.id)
        else:
            self.trace.emit(now_s, "payments.charge_failed", object_id=charge.id, parent_id=invoice.id,
                            entity=charge.entity, currency=charge.currency, amount_minor=charge.amount_minor,
                            code=decline)
            self.events.publish("charge.failed", now_s, charge)
        return charge

    def _bank_return(self, charge_id: str, now_s: float) -> None:
        """The bank returns a debit that was booked as paid: the charge is reversed."""
        self.returns_pending -= 1
        charge = self.charges[charge_id]._replace(status="reversed", decline_code=BANK_RETURN_CODE,
                                                  reversed_s=now_s)
        self.charges[charge_id] = charge
        state = self.intent_states.get(charge.invoice_id)
        if state == "succeeded":
            self.intent_states[charge.invoice_id] = PAYMENT_INTENT.next(state, "return")
        self.trace.emit(now_s, "payments.charge_reversed", object_id=charge.id, parent_id=charge.invoice_id,
                        entity=charge.entity, currency=charge.currency, amount_minor=charge.amount_minor,
                        code=BANK_RETURN_CODE)
        self.events.publish("charge.reversed", now_s, charge)
        if self.on_return is not None:
            self.on_return(charge, now_s)

    @staticmethod
    def is_hard_decline(charge: Charge) -> bool:
        """Whether a failed charge must not be retried."""
        return charge.decline_code in HARD_DECLINES
