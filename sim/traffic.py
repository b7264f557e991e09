"""Subscription traffic: the existing book and its renewals, new deals, upgrades, downgrades and
cancellations, drawn from the scenario's parameters and the traffic's own random stream.

Renewals at a billing anchor are processed at the platform's throughput (`renewals_per_s`) in
one-second batches, as billing platforms batch them: the 1st-of-month peak is a burst that takes
``book / renewals_per_s`` seconds to leave billing, not one instant.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from rehearse.sim import wiring
from rehearse.sim.identities import Identities
from rehearse.sync import rules
from rehearse.sync.model import Customer, add_months, month_start_at_or_after_s

if TYPE_CHECKING:
    from rehearse.sim.world import World

RENEWAL_TICK_S = 1.0
_LIVE = ("active", "past_due")


class Traffic:
    """Generates the commercial activity of one run."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        scenario = world.scenario
        self.identities = Identities(world.seed, [c for e in scenario.entities for c in e.countries])
        self.plans_by_interval = {
            interval: sorted((p for p in scenario.plans if p.interval == interval), key=lambda p: p.rank)
            for interval in ("month", "year")
        }
        self._entity_cumulative = []
        total = 0.0
        for entity in scenario.entities:
            total += entity.share
            self._entity_cumulative.append((total, entity))
        # The existing book was synced before the run, so it only has customers in subsidiaries the
        # ERP knows; a subsidiary missing there gets customers from new deals only.
        missing = wiring.missing_entities(world.faults)
        book_entities = [e for e in scenario.entities if e.id not in missing] or list(scenario.entities)
        book_total = sum(e.share for e in book_entities)
        self._book_cumulative = []
        running = 0.0
        for entity in book_entities:
            running += entity.share / book_total
            self._book_cumulative.append((running, entity))
        self._renewals: list[tuple[float, int, str]] = []  # (due_s, tie-breaker, subscription id)
        # The book's renewals, sorted once the book is loaded: a peak's million would otherwise
        # all sit in the heap, each pop paying for its depth. Popped in the same order as the
        # heap's, since both are ordered by (due_s, tie-breaker).
        self._book_renewals: deque[tuple[float, int, str]] = deque()
        self._renewal_seq = 0
        self.customer_count = 0
        self.new_customer_ids: list[str] = []
        self._opportunity_of: dict[str, str] = {}  # subscription id -> CRM opportunity id
        self._idle = False  # the renewal run waits for work
        self._wake = world.runtime.queue()

    # -- the book --------------------------------------------------------------------------------

    def _entity(self, u: float, cumulative):
        for bound, entity in cumulative:
            if u < bound:
                return entity
        return cumulative[-1][1]

    def _new_customer(self, now_s: float, book: bool = False) -> Customer:
        self.customer_count += 1
        index = self.customer_count
        entity = self._entity(self.rng.random(), self._book_cumulative if book else self._entity_cumulative)
        country = entity.countries[int(self.rng.random() * len(entity.countries))]
        name, email, address = self.identities.identity(index, country)
        return Customer(f"cus_{index}", entity.id, entity.currency, name, email, address, now_s)

    def _plan(self, interval: str):
        ladder = self.plans_by_interval[interval]
        return ladder[int(self.rng.random() * len(ladder))]

    def populate(self, progress: Callable[[str], None] | None = None) -> None:
        """Create the existing book: customers already in billing and in the ERP (synced before the
        run), each with an active subscription whose next renewal falls after the start."""
        world = self.world
        scenario = world.scenario
        traffic = scenario.traffic
        start_s = world.start_s
        first_boundary_s = month_start_at_or_after_s(start_s)  # the peak: the next 1st, 00:00
        rng = self.rng
        window_end_s = world.window_end_s
        for _ in range(traffic.subscriptions):
            customer = self._new_customer(start_s - 86400.0 * 400, book=True)
            annual = rng.random() < traffic.annual_share
            plan = self._plan("year" if annual else "month")
            anchored_first = rng.random() < traffic.anchor_first_share
            if annual:
                months_ahead = int(rng.random() * 12)
                renewal_s = (add_months(first_boundary_s, months_ahead) if anchored_first
                             else start_s + rng.random() * 365 * 86400.0)
                anchor_s = add_months(renewal_s, -12)
            else:
                renewal_s = first_boundary_s if anchored_first else start_s + rng.random() * 28 * 86400.0
                anchor_s = add_months(renewal_s, -1)
            price = world.prices[f"{plan.id}:{customer.currency}"]
            record = world.billing.add_existing(customer, price, anchor_s, 0)
            document = rules.customer_document(customer)
            internal_id = world.erp.preload_customer(document)
            world.store.mark_posted_before(document, internal_id)
            if record.period_end_s < window_end_s:
                self._renewal_seq += 1
                self._book_renewals.append((record.period_end_s, self._renewal_seq, record.id))
            self._plan_changes(record.id, plan.interval)
        self._book_renewals = deque(sorted(self._book_renewals))
        if progress:
            progress(f"book loaded: {traffic.subscriptions} subscriptions")

    def _plan_changes(self, subscription_id: str, interval: str) -> None:
        traffic = self.world.scenario.traffic
        rng = self.rng
        window_s = max(0.0, self.world.window_end_s - self.world.runtime.now())
        # At most one plan change per subscription in the window: two changes in one period could
        # net a negative invoice, which needs a credit memo the ERP fake does not model yet.
        u = rng.random()
        if u < traffic.upgrade_probability:
            self.world.schedule(rng.random() * window_s, self._change, subscription_id, +1)
        elif u < traffic.upgrade_probability + traffic.downgrade_probability:
            self.world.schedule(rng.random() * window_s, self._change, subscription_id, -1)
        if rng.random() < traffic.cancel_probability:
            self.world.schedule(rng.random() * window_s, self._cancel, subscription_id)

    # -- running -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the renewal run and the arrival of new deals."""
        self.world.runtime.spawn(self._renewal_run())
        self._schedule_next_deal()

    def _push_renewal(self, due_s: float, subscription_id: str) -> None:
        self._renewal_seq += 1
        heapq.heappush(self._renewals, (due_s, self._renewal_seq, subscription_id))
        if self._idle:
            self._idle = False
            self._wake.put(None)

    async def _renewal_run(self) -> None:
        world = self.world
        runtime = world.runtime
        billing = world.billing
        heap, book = self._renewals, self._book_renewals
        per_tick = max(1, int(world.scenario.billing.renewals_per_s * RENEWAL_TICK_S))
        while True:
            if not heap and not book:
                self._idle = True
                await self._wake.get()  # a new subscription pushed a renewal
                continue
            now_s = runtime.now()
            next_s = (book[0] if book and (not heap or book[0] < heap[0]) else heap[0])[0]
            if next_s > now_s:
                await runtime.sleep(next_s - now_s)
                continue
            for _ in range(per_tick):
                if book and (not heap or book[0] < heap[0]):
                    if book[0][0] > now_s:
                        break
                    _, _, subscription_id = book.popleft()
                elif heap and heap[0][0] <= now_s:
                    _, _, subscription_id = heapq.heappop(heap)
                else:
                    break
                record = billing.subscriptions[subscription_id]
                if record.status not in _LIVE:
                    continue
                billing.renew(subscription_id, now_s)
                if record.status in _LIVE and record.period_end_s < world.window_end_s:
                    self._push_renewal(record.period_end_s, subscription_id)
            else:
                await runtime.sleep(RENEWAL_TICK_S)  # the batch was full: the rest waits a tick

    def _schedule_next_deal(self) -> None:
        rate_per_s = self.world.scenario.traffic.new_deals_per_day / 86400.0
        if rate_per_s <= 0:
            return
        delay_s = self.rng.expovariate(rate_per_s)
        if self.world.runtime.now() + delay_s < self.world.window_end_s:
            self.world.schedule(delay_s, self._new_deal)

    def _new_deal(self, now_s: float) -> None:
        """A deal is won in the CRM; the order reaches billing as a customer and a subscription."""
        world = self.world
        customer = self._new_customer(now_s)
        for fault in world.faults.active("tax_address", now_s):
            if self.rng.random() < fault.probability:
                # The sign-up form let an address through without a postal code.
                customer = customer._replace(address=customer.address._replace(postal_code=""))
                world.trace.emit(now_s, "fault.injected", object_id=customer.id, code=fault.kind,
                                 detail=fault.name)
        plan = self._plan("year" if self.rng.random() < world.scenario.traffic.annual_share else "month")
        price_id = f"{plan.id}:{customer.currency}"
        world.crm.ensure_account(customer.id, customer.name, customer.entity)
        opportunity = world.crm.win_deal(customer.id, price_id, now_s)
        world.billing.create_customer(customer, now_s)
        record = world.billing.create_subscription(customer.id, price_id, now_s)
        self.new_customer_ids.append(customer.id)
        self._opportunity_of[record.id] = opportunity.id
        if record.period_end_s < world.window_end_s:
            self._push_renewal(record.period_end_s, record.id)
        self._plan_changes(record.id, plan.interval)
        self._schedule_next_deal()

    def _opportunity(self, subscription_id: str) -> str:
        """The CRM opportunity behind a subscription; book subscriptions get theirs on first touch."""
        opportunity_id = self._opportunity_of.get(subscription_id)
        if opportunity_id is None:
            world = self.world
            record = world.billing.subscriptions[subscription_id]
            customer = record.customer
            world.crm.ensure_account(customer.id, customer.name, customer.entity, status="customer")
            opportunity_id = world.crm.import_won_deal(customer.id, record.price.id).id
            self._opportunity_of[subscription_id] = opportunity_id
        return opportunity_id

    def _change(self, subscription_id: str, direction: int, now_s: float) -> None:
        """An upgrade (+1) or downgrade (-1) by one tier, amended in the CRM then billed."""
        world = self.world
        record = world.billing.subscriptions[subscription_id]
        if record.status not in _LIVE or record.cancel_at_period_end or now_s >= record.period_end_s:
            return
        ladder = self.plans_by_interval[record.price.interval]
        position = next(i for i, plan in enumerate(ladder) if plan.id == record.price.plan_id)
        target = position + direction
        if not 0 <= target < len(ladder):
            return
        price_id = f"{ladder[target].id}:{record.customer.currency}"
        world.crm.amend(self._opportunity(subscription_id), price_id, now_s)
        # Upgrades are billed at once for a share of them; downgrades wait for the next invoice.
        always_invoice = direction > 0 and self.rng.random() < world.scenario.traffic.always_invoice_share
        world.billing.change_price(subscription_id, price_id, now_s, always_invoice)

    def _cancel(self, subscription_id: str, now_s: float) -> None:
        """The account churns: the subscription is canceled at period end."""
        world = self.world
        record = world.billing.subscriptions[subscription_id]
        if record.status not in _LIVE or record.cancel_at_period_end:
            return
        self._opportunity(subscription_id)
        if world.crm.accounts[record.customer.id].status == "customer":
            world.crm.churn(record.customer.id, now_s)
        world.billing.cancel(subscription_id, now_s)
