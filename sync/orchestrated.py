"""The orchestrated sync pattern: durable state, idempotent posting, ordering, retries, holds.

Flow (DOMAIN.md section 8)::

    receive(event) -- dedupe by event id -- rank the object's state -- plan documents
        -> held (parent not posted yet) | queued
    worker (one per unit of the ERP concurrency budget):
        queued -> in flight -> posted                                   (children released)
                            -> duplicate -> lookup -> posted
                            -> timeout / 5xx -> lookup -> posted | retry wait -> queued
                            -> throttled / locked -> retry wait (backoff, Retry-After) -> queued
                            -> closed period -> next period, flagged late -> in flight
                            -> permanent / retries exhausted -> exception queue

A bank debit can come back days after it succeeded: billing reopens the invoice and collects again.
When a second payment, a write-off or a void of an invoice arrives while an earlier bank debit's
reversal is not posted, the engine waits for that reversal, or first re-reads the earlier charge
from billing when no reversal was planned (its event may still be on the way), so the ERP invoice
is open again before anything that needs it open. Likewise a payment of an invoice written off
before it was paid (E7) waits for the recovery the engine plans for it. Before it posts a write-off
the engine re-reads the invoice: one paid in the meantime (its payment may be on its way already)
supersedes the write-off, and so does a paid invoice that arrives before the write-off is posted.

`receive` is synchronous and fast (acknowledge, then work); everything that waits is an ``async``
workflow over the ports. Each defence can be switched off in `EngineSettings` so the harness can
show what its absence costs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from rehearse.sync import decisions, rules, wire
from rehearse.sync.errors import ErpConnectError, ErpError, ErpTimeout
from rehearse.sync.model import ACH_DEBIT, Charge, ErpDocument, Event, Invoice, next_period
from rehearse.sync.ports import BillingClient, ErpClient, Random, Runtime, Trace
from rehearse.sync.store import (
    EXCEPTION, HELD, IN_FLIGHT, POSTED, QUEUED, RETRY_WAIT, SUPERSEDED, MemoryStore, Posting, park_exception,
)

if TYPE_CHECKING:
    from rehearse.sync.engine import Unfinished

# Who owns an exception, by reason: the queue a person picks it up from.
EXCEPTION_OWNERS = {
    "permanent": "ar-operations",
    "missing_reference": "master-data",
    "closed_period": "gl-accounting",
    "retries_exhausted": "integration-on-call",
    "tax_incomplete": "tax",
}

_T = TypeVar("_T")

# Documents that need their invoice open in the ERP: they wait for an earlier bank debit's reversal.
NEEDS_OPEN_INVOICE = frozenset({"payment", "writeoff", "void"})
# The hold key of postings waiting for billing to re-read what follows it: a bank debit (did it
# come back?) or a write-off's own external id (is its invoice still uncollectible?).
RECHECK = "recheck:"


class EngineCrashed(Exception):
    """Raised inside a workflow that resumes after the engine crashed: its memory is gone, so it
    must not act on what it was doing."""


class EngineSettings(NamedTuple):
    """The orchestrated engine's knobs. Every defence defaults to on."""

    concurrency: int = 15
    retry: decisions.RetryPolicy = decisions.RetryPolicy()
    dedupe: bool = True
    dependency_hold: bool = True
    idempotent_posting: bool = True
    lookup_before_retry: bool = True
    period_routing: bool = True
    durable_store: bool = True
    tax_check: bool = True  # never post an invoice whose tax could not be computed
    dead_letter_queue: bool = True  # keep events that cannot be mapped, to replay them
    api_versions: tuple[str, ...] = (wire.CURRENT_VERSION,)  # payload versions the mapping reads
    circuit_breaker: bool = True
    breaker_failures_max: int = 5  # consecutive unavailability failures that open the circuit
    breaker_cooldown_s: float = 30.0
    gap_fill: bool = True
    gap_fill_interval_s: float = 6 * 3600.0
    gap_fill_horizon_s: float = 30 * 86400.0  # how far back billing's events list reaches
    post_reversals: bool = True  # a returned bank debit reverses its payment in the ERP
    # a second payment, a write-off or a void of an invoice waits for an earlier bank debit's
    # reversal, re-reading that charge from billing when no reversal was planned (DOMAIN.md 8.2)
    recheck_bank_debits: bool = True
    # a payment of an invoice written off before it was paid first undoes the write-off (E7)
    recover_writeoffs: bool = True


class OrchestratedEngine:
    """The orchestrated pattern over the engine ports."""

    pattern = "orchestrated"

    def __init__(
        self, *, runtime: Runtime, erp: ErpClient, store: MemoryStore, trace: Trace, random: Random,
        settings: EngineSettings = EngineSettings(), billing: BillingClient | None = None,
    ) -> None:
        self.runtime = runtime
        self.erp = erp
        self.billing = billing
        self.last_gap_fill_s = float("-inf")  # when the last gap-fill sweep finished
        self.store = store
        self.trace = trace
        self.random = random
        self.settings = settings
        self.queue = runtime.queue()
        # Handed to the queue and not yet taken by a worker. `len(queue)` alone misses a posting the
        # queue passed straight to a waiting worker that has not resumed yet.
        self.queued = 0
        self.in_flight = 0
        self.retry_waiting = 0
        self.rechecking = 0  # re-reads of billing under way
        self.breaker = decisions.Breaker()
        self.up = True
        self.generation = 0  # incremented by each crash; workflows of an older one stop

    # -- ingest -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start one posting worker per unit of the ERP concurrency budget."""
        for _ in range(self.settings.concurrency):
            self.runtime.spawn(self._worker(self.generation))
        if self.settings.gap_fill and self.billing is not None:
            self.runtime.spawn(self._gap_fill(self.generation))

    def crash(self) -> None:
        """The process dies: the queue, in-flight calls, retry timers and counters are gone; the
        Store is all that survives (or nothing, without a durable store)."""
        self.up = False
        self.generation += 1
        self.queue = self.runtime.queue()
        self.queued = self.in_flight = self.retry_waiting = self.rechecking = 0
        self.trace.emit(self.runtime.now(), "engine.crashed", value=float(self.generation))

    def restart(self) -> None:
        """Start again from the Store: every posting that was queued, in flight or waiting to retry
        is queued again (in flight ones may have been applied: idempotent posting finds them). Held
        postings whose wait is over, or whose re-read of billing died with the process, are routed
        again."""
        self.store = self.store.reopen() if self.settings.durable_store else self.store.fresh()
        self.up = True
        self.start()
        now = self.runtime.now()
        recovered = 0
        for posting in self.store.postings.values():
            if posting.state in (QUEUED, IN_FLIGHT, RETRY_WAIT):
                self._enqueue(posting, now)
                recovered += 1
        # A durable store rebuilds the holds by parent, which may be posted since; a re-read of
        # billing that was under way when the process died has no workflow left to finish it.
        store = self.store
        for key in [key for key in store.waiting if key.startswith(RECHECK) or store.is_posted(key)]:
            for posting in store.release_held(key) or ():
                self._route(posting, now)
        self.trace.emit(now, "engine.restarted", value=float(recovered))

    def receive(self, event: Event) -> bool:
        """Take one webhook delivery; returns True to acknowledge it. Never waits."""
        if not self.up:
            return False  # nobody is listening: the sender will retry
        now = self.runtime.now()
        emit = self.trace.emit
        # Any: a wire dict is told by `type(data) is dict` (mypy narrows only where it holds), and
        # which record it is goes with `event.type` (an Invoice for invoice.*, a Charge for charge.*).
        data: Any = event.data
        if type(data) is dict:
            try:
                data = wire.from_wire(data, self.settings.api_versions)
            except wire.WireError as error:
                return self._dead_letter(event, error.message, now)
        if self.settings.dedupe and not self.store.mark_seen(event.id):
            emit(now, "engine.duplicate_dropped", object_id=event.id, ref_id=data.id, code=event.type)
            return True
        # Exactly one trace record per delivery: dropped as a duplicate, ignored, stale, or received.
        kind = event.type
        if kind in rules.INVOICE_EVENT_TYPES:
            if not self._invoice_moved(data, event.created_s, now):
                emit(now, "engine.stale_dropped", object_id=event.id, ref_id=data.id, code=kind)
                return True
            emit(now, "engine.received", object_id=event.id, ref_id=data.id, code=kind)
        elif kind == "charge.succeeded":
            emit(now, "engine.received", object_id=event.id, ref_id=data.id, code=kind)
            self._plan_payment(data, now)
        elif kind == "charge.reversed" and self.settings.post_reversals:
            emit(now, "engine.received", object_id=event.id, ref_id=data.id, code=kind)
            self._charge_reversed(data, now)
        elif kind == "customer.created":
            emit(now, "engine.received", object_id=event.id, ref_id=data.id, code=kind)
            self._submit(rules.customer_document(data), now)
        else:  # drafts, previews, failed attempts, subscription moves: nothing to post
            emit(now, "engine.ignored", object_id=event.id, ref_id=data.id, code=kind)
        return True

    def _invoice_moved(self, invoice: Invoice, event_s: float, now: float) -> bool:
        """Plan what a newer invoice state needs; False when the snapshot is not newer."""
        rank = decisions.invoice_rank(invoice)
        ranks = self.store.object_ranks
        if not decisions.is_newer(ranks.get(invoice.id), rank):
            return False
        planned = invoice.id in self.store.postings
        self.store.set_rank(invoice.id, rank)
        if invoice.tax_status != "complete" and self.settings.tax_check:
            if not planned:  # a person must fix the address and reissue: never post zero tax
                document = rules.invoice_document(invoice)
                posting = Posting(document.external_id, document, QUEUED, now)
                self.store.postings[document.external_id] = posting
                self._open_exception(posting, "tax_incomplete", f"automatic tax: {invoice.tax_status}")
            return True
        if not planned or invoice.status in ("void", "uncollectible"):
            for document in rules.invoice_documents(invoice, event_s):
                self._submit(document, now)
        elif invoice.status == "paid":
            self._supersede_writeoff(invoice.id, now)
        return True

    def _supersede_writeoff(self, invoice_id: str, now: float) -> None:
        """The invoice is paid and its write-off is not posted (nor being posted): the customer
        paid, so nothing is written off, nor recovered. A write-off the ERP refused (the payment
        came first) leaves the exception queue."""
        postings = self.store.postings
        writeoff = postings.get(rules.external_id("writeoff", invoice_id))
        if writeoff is None or writeoff.state in (POSTED, IN_FLIGHT, SUPERSEDED):
            return
        recovery = postings.get(rules.external_id("recovery", invoice_id))
        for posting in (writeoff, recovery):
            if posting is None or posting.state == SUPERSEDED:
                continue
            key = posting.key
            if posting.state == EXCEPTION and (record := self.store.close_exception(key)) is not None:
                self.trace.emit(now, "engine.exception_resolved", object_id=key, code="superseded",
                                detail=record.reason)
            posting.state = SUPERSEDED
            self.store.save(posting)
            document = cast(ErpDocument, posting.document)  # not posted: it has its document
            self.trace.emit(now, "engine.superseded", object_id=key, code=document.doc_type)
            for child in self.store.release_held(key) or ():
                self._route(child, now)

    def _charge_reversed(self, charge: Charge, now: float) -> None:
        """Plan a returned debit's reversal, after its payment (planned too if it never was)."""
        self._plan_payment(charge, now)
        self._submit(rules.reversal_document(charge), now)

    def _plan_payment(self, charge: Charge, now: float) -> None:
        """Plan a charge's payment, after a recovery when its invoice was written off before the
        charge was made; note a bank debit against its invoice, since the bank may return it."""
        settings = self.settings
        if settings.recover_writeoffs:
            writeoff = self.store.postings.get(rules.external_id("writeoff", charge.invoice_id))
            if writeoff is not None and writeoff.state != SUPERSEDED:
                # Dated when billing wrote the invoice off (a write-off keeps its document once
                # posted; one from before the run is dated by its planning). A charge made before
                # it, whose event came late, is no recovery.
                written_off_s = writeoff.document.tran_date_s if writeoff.document is not None else writeoff.queued_s
                if charge.created_s > written_off_s:
                    self._submit(rules.recovery_document(charge), now)
        self._submit(rules.payment_document(charge), now)
        if charge.method == ACH_DEBIT and settings.recheck_bank_debits and settings.post_reversals:
            self.store.note_bank_debit(charge.invoice_id, charge.id)

    def _open_invoice_wait(self, document: ErpDocument) -> str | None:
        """What a payment, write-off or void of an invoice must wait for: the recovery of its
        write-off (a payment), or the reversal of an earlier bank debit on that invoice, when planned
        and not posted yet; or, when no reversal was planned, the re-read of that charge from
        billing (started here). None: nothing to wait for."""
        store = self.store
        doc_type = document.doc_type
        if doc_type == "payment" and self.settings.recover_writeoffs:
            recovery = store.postings.get(rules.external_id("recovery", document.parent_id))
            if recovery is not None and recovery.state not in (POSTED, SUPERSEDED):
                return recovery.key
        if doc_type not in NEEDS_OPEN_INVOICE:
            return None
        debits = store.bank_debits.get(document.parent_id)
        if not debits:
            return None
        for charge_id in debits:
            if charge_id == document.source_id:
                continue
            reversal = rules.external_id("reversal", charge_id)
            if store.is_posted(reversal):
                continue
            if reversal in store.postings:
                return reversal
            if self.billing is None:
                continue  # nobody to ask: post as the events say
            key = RECHECK + charge_id
            if key not in store.waiting:
                self.rechecking += 1
                self.runtime.spawn(self._recheck(charge_id, document.parent_id, self.generation))
            return key
        return None

    async def _read_billing(self, read: Callable[[], Awaitable[_T]], generation: int) -> tuple[bool, _T | None]:
        """Ask billing (`read` makes the call) until it answers, on the engine's retry policy:
        (True, the answer), or (False, None) when it never did. Raises `EngineCrashed` when the
        engine died meanwhile (the restart routes what waited again, which asks again)."""
        retry = self.settings.retry
        for attempt in range(1, retry.attempts_max + 1):
            try:
                return True, await self._call(read())
            except (ErpError, ErpTimeout, ErpConnectError):
                if generation != self.generation:
                    raise EngineCrashed() from None
                await self.runtime.sleep(decisions.retry_delay_s(retry, attempt, self.random.random(), None))
                if generation != self.generation:
                    raise EngineCrashed() from None
        return False, None

    async def _recheck(self, charge_id: str, invoice_id: str, generation: int) -> None:
        """Re-read an earlier bank debit of an invoice from billing. Returned: plan its reversal,
        which what waits for it then waits for. Not returned (or billing never answered): forget
        it, and route what waited."""
        billing = cast(BillingClient, self.billing)  # `_open_invoice_wait` starts this only with one
        try:
            answered, charge = await self._read_billing(lambda: billing.get_charge(charge_id), generation)
        except EngineCrashed:
            return
        returned = charge is not None and charge.status == "reversed"
        outcome = "reversed" if returned else "not_reversed" if answered else "failed"
        now = self.runtime.now()
        self.rechecking -= 1
        self.trace.emit(now, "engine.rechecked", object_id=charge_id, ref_id=invoice_id, code=outcome)
        if outcome == "reversed":
            self._charge_reversed(cast(Charge, charge), now)
        else:
            self.store.forget_bank_debit(invoice_id, charge_id)
        for posting in self.store.release_held(RECHECK + charge_id) or ():
            self._route(posting, now)

    async def _confirm_writeoff(self, invoice_id: str, generation: int) -> None:
        """Re-read an invoice about to be written off: paid since (its payment may be on its way
        already, and would apply to nothing), the write-off is superseded. Then route it (or post
        it as the events say when billing never answered)."""
        billing = cast(BillingClient, self.billing)  # `_route` starts this only with one
        try:
            answered, invoice = await self._read_billing(lambda: billing.get_invoice(invoice_id), generation)
        except EngineCrashed:
            return
        now = self.runtime.now()
        self.rechecking -= 1
        outcome = invoice.status if invoice is not None else "missing" if answered else "failed"
        self.trace.emit(now, "engine.rechecked", object_id=invoice_id, ref_id=invoice_id, code=outcome)
        if invoice is not None:
            self._invoice_moved(invoice, now, now)  # a newer state plans what it needs
        for posting in self.store.release_held(RECHECK + rules.external_id("writeoff", invoice_id)) or ():
            self._route(posting, now, confirmed=True)

    async def _gap_fill(self, generation: int) -> None:
        """Every `gap_fill_interval_s`, list what billing created within the events horizon and
        plan whatever the engine never heard of (events lost past the sender's retries)."""
        while generation == self.generation:
            await self.runtime.sleep(self.settings.gap_fill_interval_s)
            if generation != self.generation:
                return
            # One pass per call: its listings die with it instead of staying in this long-lived
            # coroutine's frame until the next pass (a whole month's invoices, at a peak).
            try:
                await self._fill_gaps()
            except EngineCrashed:
                return  # the process died while billing answered a listing: the restart starts a new loop

    async def _fill_gaps(self) -> None:
        settings = self.settings
        billing = cast(BillingClient, self.billing)  # `start` runs gap-fill only with a billing client
        since_s = self.runtime.now() - settings.gap_fill_horizon_s
        customers = await self._call(billing.list_customers(since_s))
        invoices = await self._call(billing.list_invoices(since_s))
        charges = await self._call(billing.list_charges(since_s))
        now = self.runtime.now()
        postings = self.store.postings
        found = 0
        for customer in customers:
            if customer.id not in postings:
                self._submit(rules.customer_document(customer), now)
                found += 1
        for invoice in invoices:
            if self._invoice_moved(invoice, now, now):
                found += 1
        for charge in charges:
            if charge.id not in postings:
                self._plan_payment(charge, now)
                found += 1
            if (charge.status == "reversed" and settings.post_reversals
                    and rules.external_id("reversal", charge.id) not in postings):
                self._submit(rules.reversal_document(charge), now)
                found += 1
        self.last_gap_fill_s = now
        self.trace.emit(now, "engine.gap_filled", value=float(found))

    def _submit(self, document: ErpDocument, now: float) -> None:
        postings = self.store.postings
        key = document.external_id
        if key in postings and self.settings.dedupe:
            return  # planned already: at most one document per external id
        # Without dedupe the engine acts on every delivery, as a naive consumer does: a document
        # planned before is posted again (idempotent posting is then the only guard).
        posting = Posting(key, document, QUEUED, now)
        postings.setdefault(key, posting)
        self._route(posting, now)

    def _route(self, posting: Posting, now: float, confirmed: bool = False) -> None:
        """Queue a planned posting, or hold it until what it waits for is posted: the recovery of its
        invoice's write-off or an earlier bank debit's reversal (either implies its parent), or else
        its parent; then a write-off not `confirmed` yet waits for the re-read of its invoice."""
        if posting.state == SUPERSEDED:
            return  # released from a hold it no longer needs
        document: ErpDocument = posting.document  # type: ignore[assignment]  # planned: not posted
        store = self.store
        awaited = self._open_invoice_wait(document)
        if awaited is None:
            parent = document.parent_id
            if self.settings.dependency_hold and parent and not store.is_posted(parent):
                awaited = parent
        # Last, so that the invoice is re-read just before its write-off can be posted, and once.
        if (awaited is None and not confirmed and document.doc_type == "writeoff" and self.billing is not None
                and self.settings.recover_writeoffs):
            awaited = RECHECK + posting.key
            if awaited not in store.waiting:
                self.rechecking += 1
                self.runtime.spawn(self._confirm_writeoff(document.parent_id, self.generation))
        if awaited is not None:
            posting.state = HELD
            store.save(posting)
            store.waiting.setdefault(awaited, []).append(posting)
            self.trace.emit(now, "engine.held", object_id=posting.key, parent_id=awaited, code=document.doc_type)
            return
        self._enqueue(posting, now)

    def _enqueue(self, posting: Posting, now: float) -> None:
        posting.state = QUEUED
        self.store.save(posting)
        # Queued, so not posted: it has its document (`_mark_posted` drops it). No check: every posting comes here.
        document: ErpDocument = posting.document  # type: ignore[assignment]
        self.trace.emit(now, "engine.queued", object_id=document.external_id, ref_id=document.source_id,
                        code=document.doc_type)
        self.queued += 1
        self.queue.put(posting)

    # -- posting ----------------------------------------------------------------------------

    async def _worker(self, generation: int) -> None:
        queue = self.queue
        while generation == self.generation:
            posting = await queue.get()
            if generation != self.generation:
                return  # handed over just before a crash: the restart queued it again
            self.queued -= 1
            if posting.state == SUPERSEDED:
                continue  # superseded while queued
            self.in_flight += 1
            try:
                pause_s = await self._post(posting)
            except EngineCrashed:
                return
            finally:
                if generation == self.generation:
                    self.in_flight -= 1
            if pause_s:
                # Throttled: this slot of the budget rests for Retry-After instead of throttling
                # the next posting too, so the engine's rate drops to what the ERP admits.
                await self.runtime.sleep(pause_s)

    async def _post(self, posting: Posting) -> float:
        """Post one document to the end of its attempt; returns how long this worker should rest."""
        settings = self.settings
        posting.state = IN_FLIGHT
        while True:
            # In flight, so not posted: it has its document (`_mark_posted` drops it). No check: every attempt.
            document: ErpDocument = posting.document  # type: ignore[assignment]
            sent = document
            if not settings.idempotent_posting:
                # Without external ids the ERP knows records only by its internal ids: refer to
                # the parent by the internal id its post returned.
                parent = self.store.postings.get(document.parent_id)
                parent_id = parent.internal_id if parent is not None and parent.internal_id else document.parent_id
                sent = document._replace(external_id="", parent_id=parent_id)
            if settings.circuit_breaker:
                self.breaker, wait_s = decisions.breaker_admits(self.breaker, self.runtime.now())
                if wait_s:
                    # The circuit is open: no call, no attempt spent; the posting waits and so does
                    # this worker, or the workers would cycle the whole queue through timers.
                    self._hold(posting, wait_s)
                    return wait_s
            posting.attempts += 1
            self.store.save(posting)
            try:
                internal_id = await self._call(self.erp.post(sent))
            except ErpError as error:
                self._outcome(failed=error.status >= 500)
                pause_s = await self._after_error(posting, error)
                if pause_s is None:
                    continue  # rerouted out of a closed period: post again at once
                return pause_s
            except ErpTimeout:
                self._outcome(failed=True)
                if settings.lookup_before_retry and await self._resolve_by_lookup(posting):
                    return 0.0
                self._retry_later(posting, "TIMEOUT", None, decisions.AMBIGUOUS)
                return 0.0
            except ErpConnectError:
                self._outcome(failed=True)
                self._retry_later(posting, "CONNECT_ERROR", None, decisions.TRANSIENT)
                return 0.0
            self._outcome(failed=False)
            self._mark_posted(posting, document, internal_id)
            return 0.0

    async def _after_error(self, posting: Posting, error: ErpError) -> float | None:
        """Act on an ERP error answer as `decisions.classify_erp_error` says. Returns how long the
        worker should rest, or None to post again at once (after a reroute)."""
        settings = self.settings
        decision = decisions.classify_erp_error(error.status, error.code)
        if decision == decisions.DUPLICATE and settings.idempotent_posting:
            found = await self._resolve_by_lookup(posting)
            if found is None:  # the lookup failed, not the record: ask again later
                self._retry_later(posting, error.code, None, decisions.TRANSIENT)
            elif not found:
                self._open_exception(posting, "permanent", f"{error.code} but lookup found nothing")
            return 0.0
        if decision == decisions.CLOSED_PERIOD and settings.period_routing:
            self._reroute(posting)
            return None
        if decision == decisions.AMBIGUOUS and settings.lookup_before_retry:
            if await self._resolve_by_lookup(posting):
                return 0.0
        if decision in (decisions.TRANSIENT, decisions.AMBIGUOUS, decisions.MISSING_REFERENCE):
            self._retry_later(posting, error.code, error.retry_after_s, decision)
            if error.status == 429 and settings.retry.respect_retry_after:
                return error.retry_after_s or 0.0
            return 0.0
        reason = decision if decision in EXCEPTION_OWNERS else "permanent"
        self._open_exception(posting, reason, f"{error.code}: {error.message}")
        return 0.0

    def _outcome(self, failed: bool) -> None:
        """Feed a call's outcome (unavailable or not) to the circuit breaker; trace its moves."""
        settings = self.settings
        if not settings.circuit_breaker:
            return
        before = self.breaker.state
        self.breaker = decisions.breaker_after(self.breaker, failed, self.runtime.now(),
                                               settings.breaker_failures_max, settings.breaker_cooldown_s)
        if self.breaker.state != before:
            self.trace.emit(self.runtime.now(), "engine.circuit", code=self.breaker.state,
                            value=float(self.breaker.failures))

    def _hold(self, posting: Posting, wait_s: float) -> None:
        posting.state = RETRY_WAIT
        self.store.save(posting)
        self.retry_waiting += 1
        self.runtime.call_later(wait_s, self._requeue, posting, self.generation)

    async def _call(self, call: Awaitable[_T]) -> _T:
        """Await an ERP call; if the engine crashed meanwhile, its answer reaches nobody."""
        generation = self.generation
        try:
            return await call
        finally:
            if generation != self.generation:
                raise EngineCrashed()

    async def _resolve_by_lookup(self, posting: Posting) -> bool | None:
        """True if the ERP has the document (now marked posted), False if it has not, None if the
        lookup itself failed (throttled, timed out): then nobody knows."""
        document = cast(ErpDocument, posting.document)  # in flight: not posted yet
        failed = False
        try:
            internal_id = await self._call(self.erp.lookup(document.doc_type, document.external_id))
        except (ErpError, ErpTimeout, ErpConnectError):
            internal_id = None
            failed = True
        self.trace.emit(self.runtime.now(), "engine.lookup", object_id=document.external_id,
                        code="found" if internal_id else "absent")
        if internal_id:
            self._mark_posted(posting, document, internal_id)
            return True
        return None if failed else False

    def _reroute(self, posting: Posting) -> None:
        document = cast(ErpDocument, posting.document)  # refused or parked: not posted
        routed = next_period(document.posting_period)
        posting.document = document._replace(posting_period=routed)
        posting.late = True
        self.store.save(posting)
        self.trace.emit(self.runtime.now(), "engine.rerouted", object_id=document.external_id,
                        ref_id=document.source_id, period=routed, detail=document.posting_period)

    def _retry_later(self, posting: Posting, code: str, retry_after_s: float | None, decision: str) -> None:
        if posting.attempts >= self.settings.retry.attempts_max:
            reason = "missing_reference" if decision == decisions.MISSING_REFERENCE else "retries_exhausted"
            self._open_exception(posting, reason, f"{posting.attempts} attempts, last {code}")
            return
        delay_s = decisions.retry_delay_s(self.settings.retry, posting.attempts, self.random.random(), retry_after_s)
        posting.state = RETRY_WAIT
        self.store.save(posting)
        self.retry_waiting += 1
        document = cast(ErpDocument, posting.document)  # its post failed: not posted
        self.trace.emit(self.runtime.now(), "engine.retry", object_id=document.external_id,
                        code=code, value=delay_s)
        self.runtime.call_later(delay_s, self._requeue, posting, self.generation)

    def _requeue(self, posting: Posting, generation: int) -> None:
        if generation != self.generation:
            return  # the timer died with the process; the restart queued the posting again
        self.retry_waiting -= 1
        if posting.state != SUPERSEDED:
            self._enqueue(posting, self.runtime.now())

    def _mark_posted(self, posting: Posting, document: ErpDocument, internal_id: str) -> None:
        """Mark a posting posted; `document` is its document (callers have it at hand), which it drops
        (but a write-off's)."""
        now = self.runtime.now()
        posting.state = POSTED
        posting.internal_id = internal_id
        key = document.external_id
        self.trace.emit(now, "engine.posted", object_id=key, ref_id=document.source_id,
                        code=document.doc_type, value=float(posting.attempts))
        if document.doc_type != "writeoff":  # a recovery needs the write-off's date; there are few
            posting.document = None  # done with: the ERP has it, and a run holds millions of postings
        self.store.save(posting)
        children = self.store.release_held(key)
        if children:
            for child in children:
                self._route(child, now)

    def _open_exception(self, posting: Posting, reason: str, detail: str) -> None:
        park_exception(self.store, self.trace, posting, reason,
                       EXCEPTION_OWNERS.get(reason, EXCEPTION_OWNERS["permanent"]), detail, self.runtime.now())

    def _dead_letter(self, event: Event, reason: str, now: float) -> bool:
        """An event the mapping cannot read: kept for replay (acknowledged), or, without a
        dead-letter queue, acknowledged and dropped with an error in the log, as naive consumers do."""
        kept = self.settings.dead_letter_queue
        if kept:
            self.store.dead_letters[event.id] = (event, reason)
        payload = cast("dict[str, Any]", event.data)  # only a wire payload fails to map
        self.trace.emit(now, "engine.dead_lettered", object_id=event.id, ref_id=str(payload.get("id", "")),
                        code=event.type, detail=reason if kept else f"dropped: {reason}")
        return True

    def accept_api_version(self, version: str) -> None:
        """The mapping was upgraded to read another payload version."""
        if version not in self.settings.api_versions:
            self.settings = self.settings._replace(api_versions=(*self.settings.api_versions, version))

    def replay_dead_letters(self) -> int:
        """Receive every dead-lettered event again; returns how many could now be read."""
        letters = list(self.store.dead_letters.values())
        self.store.dead_letters.clear()
        for event, _ in letters:
            self.receive(event)
        return sum(event.id not in self.store.dead_letters for event, _ in letters)

    # -- people --------------------------------------------------------------------------------

    def replay(self, external_id: str, resolution: str = "replayed") -> bool:
        """A person resolved an exception: post it again from scratch (into the next period when it
        was parked for a closed one). Returns False when there is no such open exception, or while
        the engine is down: nothing can take the work then, and its restart queues what it finds
        queued, so a posting queued now would be posted twice."""
        if not self.up:
            return False
        record = self.store.close_exception(external_id)
        posting = self.store.postings.get(external_id)
        if record is None or posting is None or posting.state != EXCEPTION:
            return False
        now = self.runtime.now()
        self.trace.emit(now, "engine.exception_resolved", object_id=external_id, code=resolution,
                        detail=record.reason)
        posting.attempts = 0
        if record.reason == "closed_period":
            self._reroute(posting)
        self._enqueue(posting, now)
        return True

    # -- observation --------------------------------------------------------------------------

    def idle(self) -> bool:
        """Nothing queued, in flight, waiting to retry or re-reading billing (held postings wait on others)."""
        return (self.up and self.queued == 0 and self.in_flight == 0 and self.retry_waiting == 0
                and self.rechecking == 0)

    def unfinished(self) -> list[Unfinished]:
        """Postings neither posted nor parked as exceptions: the in-flight set at a cut-off."""
        # Not posted yet, so each still holds its document (posting clears it).
        return cast("list[Unfinished]", self.store.unfinished())


def settings_from(section) -> EngineSettings:
    """The orchestrated engine's settings from the scenario's ``[engine]`` section (plain values)."""
    return EngineSettings(
        concurrency=section["concurrency"],
        retry=decisions.RetryPolicy(section["retry_base_s"], section["retry_cap_s"], section["retry_jitter_share"],
                                    section["retry_attempts_max"], section["respect_retry_after"]),
        dedupe=section["dedupe"], dependency_hold=section["dependency_hold"],
        idempotent_posting=section["idempotent_posting"], lookup_before_retry=section["lookup_before_retry"],
        period_routing=section["period_routing"], durable_store=section["durable_store"],
        tax_check=section["tax_check"], dead_letter_queue=section["dead_letter_queue"],
        gap_fill=section["gap_fill"], gap_fill_interval_s=section["gap_fill_interval_s"],
        post_reversals=section["post_reversals"], recheck_bank_debits=section["recheck_bank_debits"],
        recover_writeoffs=section["recover_writeoffs"],
        circuit_breaker=section["circuit_breaker"],
        breaker_failures_max=section["breaker_failures_max"],
        breaker_cooldown_s=section["breaker_cooldown_s"],
    )


def create(ports) -> OrchestratedEngine:
    """The orchestrated pattern's factory (`rehearse.sync.engine.EngineFactory`)."""
    return OrchestratedEngine(runtime=ports.runtime, erp=ports.erp, store=ports.store, trace=ports.trace,
                              random=ports.random, settings=settings_from(ports.settings), billing=ports.billing)
