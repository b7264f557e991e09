"""The billing platform fake, after Stripe Billing (DOMAIN.md section 2).

Pure state: every method takes the time as an argument, and future work (finalizing an invoice an
hour after it was created, the next dunning retry, expiring an unpaid first invoice) is handed to
`schedule(delay_s, callback, *args)`, which the world maps to its clock.

A renewal: at the period boundary the subscription moves to its next period and a draft invoice is
created (``invoice.created``); `finalize_delay_s` later it is finalized with tax at the rate in
force (``invoice.finalized``) and payment is attempted at once; then ``invoice.paid``, or
``invoice.payment_failed`` and Smart-Retries-style dunning until paid or exhausted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from rehearse.fakes.billing.states import INVOICE, SUBSCRIPTION
from rehearse.fakes.delay_line import DelayLine
from rehearse.fakes.events import EventLog
from rehearse.fakes.payments.gateway import ChargeOutcomeUnknown, PaymentsGateway
from rehearse.fakes.shares import in_share
from rehearse.fakes.tax.engine import TaxAddressError, TaxEngine
from rehearse.sync.model import (
    Customer, Invoice, InvoiceLine, Price, Subscription, add_months, period_of,
)


# What happens to a subscription when dunning gives up, by account setting.
_EXHAUSTED_ACTIONS = {
    "canceled": "retries_exhausted_cancel",
    "unpaid": "retries_exhausted_unpaid",
    "past_due": "retries_exhausted_leave",
}
EXHAUSTED_ACTIONS = tuple(_EXHAUSTED_ACTIONS)


class BillingSettings(NamedTuple):
    """How the platform behaves; defaults follow Stripe's published defaults."""

    finalize_delay_s: float = 3600.0
    dunning_retry_days: tuple[float, ...] = (1, 3, 5, 7, 9, 11, 13)  # 8 attempts within 2 weeks
    exhausted_action: str = "unpaid"  # canceled | unpaid | past_due
    incomplete_expiry_s: float = 23 * 3600.0
    # After a charge call times out, look the attempt up by its idempotency key before trying
    # again. Off, a timeout is taken for "not charged" and retried at once: the naive caller that
    # charges customers twice.
    lookup_unknown_outcomes: bool = True
    # Of the invoices marked uncollectible, the share whose customer pays after all (a new card, a
    # payment plan), `recovery_after_days` later: one more charge, which may still decline. Which
    # invoices is a hash of their id, so the share draws nothing from any random stream.
    recovery_share: float = 0.0
    recovery_after_days: float = 10.0


NAIVE_RETRY_S = 60.0  # how soon a caller that does not look up tries a timed-out charge again
# An attempt still unknown after this many lookups that found no charge counts as failed (a
# processing error) and dunning goes on: a gateway that never answers is not called again at once
# forever (with a lookup a millisecond later, a thousand times a second).
UNKNOWN_LOOKUPS_MAX = 3
UNKNOWN_DECLINE_CODE = "processing_error"


class SubscriptionRecord:
    """A subscription's live state inside the platform."""

    __slots__ = ("id", "customer", "price", "status", "anchor_s", "cycle", "period_start_s",
                 "period_end_s", "cancel_at_period_end", "pending_lines", "first_invoice_id")

    def __init__(self, sub_id: str, customer: Customer, price: Price, status: str, anchor_s: float, cycle: int) -> None:
        self.id = sub_id
        self.customer = customer
        self.price = price
        self.status = status
        self.anchor_s = anchor_s
        self.cycle = cycle
        months = 1 if price.interval == "month" else 12
        self.period_start_s = add_months(anchor_s, cycle * months)
        self.period_end_s = add_months(anchor_s, (cycle + 1) * months)
        self.cancel_at_period_end = False
        self.pending_lines: tuple[InvoiceLine, ...] = ()  # a shared empty tuple: no list per subscription
        self.first_invoice_id = ""

    def snapshot(self) -> Subscription:
        """The canonical snapshot of this subscription."""
        customer = self.customer
        return Subscription(self.id, customer.id, customer.entity, customer.currency, self.price.id,
                            self.status, self.period_start_s, self.period_end_s, self.cancel_at_period_end)


def prorate_minor(amount_minor: int, remaining_s: int, period_s: int) -> int:
    """`amount_minor` scaled by remaining/period time, to the second, rounded half up (integers only)."""
    return (2 * amount_minor * remaining_s + period_s) // (2 * period_s)


class Billing:
    """Customers, subscriptions and invoices; publishes an event for every change."""

    def __init__(
        self, *, settings: BillingSettings, prices: dict[str, Price], tax: TaxEngine,
        payments: PaymentsGateway, events: EventLog, trace, schedule: Callable[..., Any],
    ) -> None:
        self.settings = settings
        self.prices = prices
        self.tax = tax
        self.payments = payments
        self.events = events
        self.trace = trace
        self.schedule = schedule
        payments.on_return = self._payment_returned
        self.customers: dict[str, Customer] = {}
        self.subscriptions: dict[str, SubscriptionRecord] = {}
        self.invoices: dict[str, Invoice] = {}
        self._failed_first_s: dict[str, float] = {}  # invoice id -> time of its first failed attempt
        self._unknown_lookups: dict[str, int] = {}  # idempotency key -> lookups that found no charge
        self._subscription_count = 0
        self._invoice_count = 0
        self._descriptions: dict[str, str] = {}
        # Draft invoices waiting for finalization: one timer for all of them, not one each.
        self.finalizing = DelayLine(schedule, settings.finalize_delay_s, self.finalize)

    # -- customers and subscriptions ------------------------------------------------------------

    def add_existing(self, customer: Customer, price: Price, anchor_s: float, cycle: int) -> SubscriptionRecord:
        """Load a customer and an active subscription from before the run (no events)."""
        self.customers[customer.id] = customer
        return self._new_subscription(customer, price, "active", anchor_s, cycle)

    def create_customer(self, customer: Customer, now_s: float) -> None:
        """A new customer (from a won deal)."""
        self.customers[customer.id] = customer
        self.trace.emit(now_s, "billing.customer_created", object_id=customer.id,
                        entity=customer.entity, currency=customer.currency)
        self.events.publish("customer.created", now_s, customer)

    def create_subscription(self, customer_id: str, price_id: str, now_s: float) -> SubscriptionRecord:
        """Start a subscription now: its first invoice is finalized at once and charged; the
        subscription is incomplete until paid and expires if unpaid after 23 h."""
        record = self._new_subscription(self.customers[customer_id], self.prices[price_id], "incomplete", now_s, 0)
        self._announce(record, now_s, "customer.subscription.created")
        invoice = self._draft(record, [self._period_line(record)], now_s)
        record.first_invoice_id = invoice.id
        self.finalize(invoice.id, now_s)
        self.schedule(self.settings.incomplete_expiry_s, self.expire_incomplete, record.id)
        return record

    def _new_subscription(self, customer: Customer, price: Price, status: str, anchor_s: float,
                          cycle: int) -> SubscriptionRecord:
        self._subscription_count += 1
        record = SubscriptionRecord(f"sub_{self._subscription_count}", customer, price, status, anchor_s, cycle)
        self.subscriptions[record.id] = record
        return record

    def _status(self, record: SubscriptionRecord, action: str, now_s: float, event_type: str) -> None:
        """Apply a transition; announce it when the status changed or the event is not a plain
        update (a renewal that keeps the status sends no event here, to keep webhook volume down)."""
        before = record.status
        record.status = SUBSCRIPTION.next(before, action)
        if record.status != before or event_type != "customer.subscription.updated":
            self._announce(record, now_s, event_type)

    def _announce(self, record: SubscriptionRecord, now_s: float, event_type: str) -> None:
        self.trace.emit(now_s, "billing.subscription_status", object_id=record.id,
                        ref_id=record.customer.id, code=record.status)
        self.events.publish(event_type, now_s, record.snapshot())

    def renew(self, subscription_id: str, now_s: float) -> Invoice | None:
        """Cross the period boundary: cancel if asked to at period end, else open the next period
        with a draft invoice (pending prorations included) and schedule its finalization."""
        record = self.subscriptions[subscription_id]
        if record.cancel_at_period_end:
            self._status(record, "cancel", now_s, "customer.subscription.deleted")
            return None
        self._status(record, "renew", now_s, "customer.subscription.updated")
        record.cycle += 1
        months = 1 if record.price.interval == "month" else 12
        record.period_start_s = record.period_end_s
        record.period_end_s = add_months(record.anchor_s, (record.cycle + 1) * months)
        lines = [*record.pending_lines, self._period_line(record)]
        record.pending_lines = ()
        invoice = self._draft(record, lines, now_s)
        self.finalizing.put(invoice.id, now_s)
        return invoice

    def change_price(self, subscription_id: str, price_id: str, now_s: float, always_invoice: bool) -> Invoice | None:
        """Move to another price mid-period with proration to the second: a credit for the unused
        time on the old price, a charge for the rest on the new one, both with service period
        [now, period end). `always_invoice` bills them at once; otherwise they wait for the next
        invoice."""
        record = self.subscriptions[subscription_id]
        new_price = self.prices[price_id]
        self._status(record, "change_price", now_s, "customer.subscription.updated")
        period_s = int(record.period_end_s - record.period_start_s)
        remaining_s = max(0, int(record.period_end_s - now_s))
        old_price, record.price = record.price, new_price
        lines = [
            InvoiceLine(f"Unused time on {old_price.plan_id}", "proration",
                        -prorate_minor(old_price.unit_amount_minor, remaining_s, period_s), 0, now_s,
                        record.period_end_s),
            InvoiceLine(f"Remaining time on {new_price.plan_id}", "proration",
                        prorate_minor(new_price.unit_amount_minor, remaining_s, period_s), 0, now_s,
                        record.period_end_s),
        ]
        if not always_invoice:
            record.pending_lines += tuple(lines)
            return None
        invoice = self._draft(record, lines, now_s)
        self.finalize(invoice.id, now_s)
        return invoice

    def cancel(self, subscription_id: str, now_s: float) -> None:
        """Cancel at the end of the current period (the subscription stays active until then)."""
        record = self.subscriptions[subscription_id]
        if record.status in ("canceled", "incomplete_expired"):
            return
        record.cancel_at_period_end = True
        self.trace.emit(now_s, "billing.subscription_status", object_id=record.id,
                        ref_id=record.customer.id, code="cancel_at_period_end")
        self.events.publish("customer.subscription.updated", now_s, record.snapshot())

    def expire_incomplete(self, subscription_id: str, now_s: float) -> None:
        """23 h after creation: an unpaid first invoice is voided and the subscription expires."""
        record = self.subscriptions[subscription_id]
        if record.status != "incomplete":
            return
        self._void(self.invoices[record.first_invoice_id], now_s)
        self._status(record, "expire", now_s, "customer.subscription.deleted")

    # -- invoices ---------------------------------------------------------------------------------

    def _period_line(self, record: SubscriptionRecord) -> InvoiceLine:
        price = record.price
        description = self._descriptions.get(price.id)
        if description is None:  # one string per price, shared by every line that bills it
            description = self._descriptions[price.id] = f"{price.plan_id} ({price.interval})"
        return InvoiceLine(description, "subscription", price.unit_amount_minor, 0,
                           record.period_start_s, record.period_end_s)

    def _draft(self, record: SubscriptionRecord, lines: list[InvoiceLine], now_s: float) -> Invoice:
        self._invoice_count += 1
        customer = record.customer
        subtotal = sum(line.amount_minor for line in lines)
        invoice = Invoice(f"in_{self._invoice_count}", customer.id, record.id, customer.entity, customer.currency,
                          "draft", tuple(lines), subtotal, 0, subtotal, 0, now_s, 0.0)
        self.invoices[invoice.id] = invoice
        self.trace.emit(now_s, "billing.invoice_created", object_id=invoice.id, ref_id=customer.id,
                        entity=invoice.entity, currency=invoice.currency, amount_minor=subtotal)
        self.events.publish("invoice.created", now_s, invoice)
        return invoice

    def finalize(self, invoice_id: str, now_s: float) -> None:
        """draft -> open with tax computed at the rate in force now; then collect payment."""
        invoice = self.invoices[invoice_id]
        status = INVOICE.next(invoice.status, "finalize")
        try:
            rate_bps = self.tax.rate_bps(self.customers[invoice.customer_id].address)
            tax_status = "complete"
        except TaxAddressError as error:
            # Automatic tax switches itself off for this invoice: it goes out with no tax at all.
            rate_bps, tax_status = 0, "requires_location_inputs"
            self.trace.emit(now_s, "billing.tax_failed", object_id=invoice.id, ref_id=invoice.customer_id,
                            code=str(error.code), detail=error.message)
        tax_minor = self.tax.tax_minor
        lines = tuple(line._replace(tax_minor=tax_minor(line.amount_minor, rate_bps)) for line in invoice.lines)
        tax = sum(line.tax_minor for line in lines)
        invoice = invoice._replace(status=status, lines=lines, tax_minor=tax, tax_status=tax_status,
                                   total_minor=invoice.subtotal_minor + tax, finalized_s=now_s)
        self.invoices[invoice_id] = invoice
        self.trace.emit(now_s, "billing.invoice_finalized", object_id=invoice.id, ref_id=invoice.customer_id,
                        entity=invoice.entity, currency=invoice.currency, amount_minor=invoice.total_minor,
                        tax_minor=tax, period=period_of(now_s))
        self.events.publish("invoice.finalized", now_s, invoice)
        if invoice.total_minor <= 0:
            self._paid(invoice, now_s)  # nothing due: a zero invoice is paid on finalization
        else:
            self.collect(invoice_id, 1, now_s)

    def collect(self, invoice_id: str, attempt: int, now_s: float, retry: int = 0) -> None:
        """Attempt payment of an open invoice; on failure schedule the next dunning retry or give up.
        Each attempt carries an idempotency key (`retry` counts naive re-sends of one attempt)."""
        invoice = self.invoices[invoice_id]
        if invoice.status != "open":
            return
        key = f"{invoice_id}:{attempt}" if not retry else f"{invoice_id}:{attempt}:{retry}"
        try:
            # A naive re-send (`retry`) knows nothing of the first call: it opens a new intent.
            charge = self.payments.charge(invoice, attempt, now_s, key, new_intent=retry > 0)
        except ChargeOutcomeUnknown as unknown:
            self.trace.emit(now_s, "billing.payment_unknown", object_id=invoice_id, detail=key)
            if self.settings.lookup_unknown_outcomes:
                self.schedule(unknown.lookup_after_s, self._look_up, invoice_id, attempt, retry)
            else:
                self.schedule(NAIVE_RETRY_S, self._resend, invoice_id, attempt, retry + 1)
            return
        self._attempted(invoice, charge, attempt, now_s)

    def _look_up(self, invoice_id: str, attempt: int, retry: int, now_s: float) -> None:
        """Resolve a timed-out attempt: act on the charge if it was made, else make it now."""
        key = f"{invoice_id}:{attempt}" if not retry else f"{invoice_id}:{attempt}:{retry}"
        charge = self.payments.lookup(key)
        self.trace.emit(now_s, "billing.payment_looked_up", object_id=invoice_id, detail=key,
                        code=charge.status if charge else "not_found")
        invoice = self.invoices[invoice_id]
        if charge is not None:
            self._unknown_lookups.pop(key, None)
            if invoice.status == "open":
                self._attempted(invoice, charge, attempt, now_s)
            return
        lookups = self._unknown_lookups.pop(key, 0) + 1
        if lookups < UNKNOWN_LOOKUPS_MAX:
            self._unknown_lookups[key] = lookups
            self.collect(invoice_id, attempt, now_s, retry)
        elif invoice.status == "open":
            self._attempt_failed(invoice, attempt, now_s, UNKNOWN_DECLINE_CODE, hard=False)

    def _resend(self, invoice_id: str, attempt: int, retry: int, now_s: float) -> None:
        self.collect(invoice_id, attempt, now_s, retry)

    def _attempted(self, invoice: Invoice, charge, attempt: int, now_s: float) -> None:
        """Act on a charge attempt's result: paid, or dunning."""
        if charge.status == "succeeded":
            self._paid(invoice, now_s, charge.amount_minor)
            return
        self._attempt_failed(invoice, attempt, now_s, charge.decline_code, PaymentsGateway.is_hard_decline(charge))

    def _attempt_failed(self, invoice: Invoice, attempt: int, now_s: float, decline_code: str, hard: bool) -> None:
        """Dunning after a failed attempt: the next retry on the schedule, or give up."""
        invoice_id = invoice.id
        self.trace.emit(now_s, "billing.invoice_payment_failed", object_id=invoice.id, code=decline_code)
        self.events.publish("invoice.payment_failed", now_s, invoice)
        record = self.subscriptions[invoice.subscription_id]
        if record.status == "incomplete":
            return  # a first invoice is not dunned; it expires
        if record.status in ("active", "past_due"):
            self._status(record, "payment_failed", now_s, "customer.subscription.updated")
        first_failed_s = self._failed_first_s.setdefault(invoice_id, now_s)
        retry_days = self.settings.dunning_retry_days
        if attempt <= len(retry_days) and not hard:
            retry_at_s = first_failed_s + retry_days[attempt - 1] * 86400.0
            self.schedule(retry_at_s - now_s, self.collect, invoice_id, attempt + 1)
        else:
            self._exhausted(invoice, record, now_s)

    def _payment_returned(self, charge, now_s: float) -> None:
        """The bank returned a debit booked as paid: the invoice reopens and dunning starts over."""
        invoice = self.invoices.get(charge.invoice_id)
        if invoice is None or invoice.status != "paid":
            return
        invoice = invoice._replace(status=INVOICE.next(invoice.status, "reopen"),
                                   amount_paid_minor=invoice.amount_paid_minor - charge.amount_minor,
                                   reopened=invoice.reopened + 1)
        self.invoices[invoice.id] = invoice
        self.trace.emit(now_s, "billing.invoice_reopened", object_id=invoice.id, ref_id=charge.id,
                        entity=invoice.entity, currency=invoice.currency, amount_minor=charge.amount_minor,
                        code=charge.decline_code)
        self.events.publish("invoice.reopened", now_s, invoice)
        record = self.subscriptions[invoice.subscription_id]
        if record.status in ("active", "past_due"):
            self._status(record, "payment_failed", now_s, "customer.subscription.updated")
        self._failed_first_s[invoice.id] = now_s
        retry_days = self.settings.dunning_retry_days
        if retry_days:
            self.schedule(retry_days[0] * 86400.0, self.collect, invoice.id, 2)
        else:
            self._exhausted(invoice, record, now_s)

    def _paid(self, invoice: Invoice, now_s: float, charged_minor: int = 0) -> None:
        """The invoice is paid, by a charge of `charged_minor` (0: nothing was due)."""
        invoice = invoice._replace(status=INVOICE.next(invoice.status, "pay"),
                                   amount_paid_minor=invoice.amount_paid_minor + charged_minor)
        self.invoices[invoice.id] = invoice
        self._failed_first_s.pop(invoice.id, None)
        self.trace.emit(now_s, "billing.invoice_paid", object_id=invoice.id, entity=invoice.entity,
                        currency=invoice.currency, amount_minor=invoice.total_minor)
        self.events.publish("invoice.paid", now_s, invoice)
        record = self.subscriptions[invoice.subscription_id]
        if SUBSCRIPTION.allows(record.status, "invoice_paid"):
            self._status(record, "invoice_paid", now_s, "customer.subscription.updated")

    def _exhausted(self, invoice: Invoice, record: SubscriptionRecord, now_s: float) -> None:
        invoice = invoice._replace(status=INVOICE.next(invoice.status, "mark_uncollectible"))
        self.invoices[invoice.id] = invoice
        self.trace.emit(now_s, "billing.invoice_uncollectible", object_id=invoice.id, entity=invoice.entity,
                        currency=invoice.currency, amount_minor=invoice.total_minor)
        self.events.publish("invoice.marked_uncollectible", now_s, invoice)
        share = self.settings.recovery_share
        if share and in_share(invoice.id, share):
            self.schedule(self.settings.recovery_after_days * 86400.0, self._recover, invoice.id)
        if record.status == "past_due":
            action = _EXHAUSTED_ACTIONS[self.settings.exhausted_action]
            event_type = ("customer.subscription.deleted" if action.endswith("cancel")
                          else "customer.subscription.updated")
            self._status(record, action, now_s, event_type)

    def _recover(self, invoice_id: str, now_s: float) -> None:
        """The customer of an uncollectible invoice pays after all: charge it once more (E7). A call
        that times out is asked again under the same idempotency key, which charges at most once."""
        invoice = self.invoices[invoice_id]
        if invoice.status != "uncollectible":
            return
        key = f"{invoice_id}:recovery"
        try:
            charge = self.payments.charge(invoice, 1, now_s, key)
        except ChargeOutcomeUnknown as unknown:
            self.trace.emit(now_s, "billing.payment_unknown", object_id=invoice_id, detail=key)
            tries = self._unknown_lookups.pop(key, 0) + 1
            if tries < UNKNOWN_LOOKUPS_MAX:
                self._unknown_lookups[key] = tries
                self.schedule(unknown.lookup_after_s, self._recover, invoice_id)
            return  # else the customer gives up too
        self._unknown_lookups.pop(key, None)
        if charge.status == "succeeded":
            self._paid(invoice, now_s, charge.amount_minor)
        else:
            self.trace.emit(now_s, "billing.invoice_payment_failed", object_id=invoice_id, code=charge.decline_code)
            self.events.publish("invoice.payment_failed", now_s, invoice)

    def _void(self, invoice: Invoice, now_s: float) -> None:
        invoice = invoice._replace(status=INVOICE.next(invoice.status, "void"))
        self.invoices[invoice.id] = invoice
        self.trace.emit(now_s, "billing.invoice_voided", object_id=invoice.id, entity=invoice.entity,
                        currency=invoice.currency, amount_minor=invoice.total_minor)
        self.events.publish("invoice.voided", now_s, invoice)
