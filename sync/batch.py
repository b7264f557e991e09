"""The batch pattern: on a schedule, extract from billing's list APIs, validate in a staging area,
post in bulk; failed items wait for the next run.

How teams build it (an iPaaS job or a nightly script): each run lists customers and charges
created since the last run's start (the watermark, minus an overlap for records that became
visible late) and invoices finalized within a wider window (the list APIs filter by creation, not
by last change, so a payment, void or write-off of an older invoice is found only while that
invoice is inside the window). The staging table (the `Store`) remembers what was posted, so a
record is posted once however often it is extracted; external ids make the ERP side idempotent
too. Staged validation rejects what would fail: an untaxed invoice (an exception for the tax
team), a document whose parent is neither posted, nor in this batch, nor found in the ERP by a
lookup (it waits for later runs, then becomes an exception), a date in a period the ERP said was
closed (routed to the next period and flagged late, or, without routing, an exception). The bulk post
runs in dependency order (customers, invoices, then payments, voids and write-offs), `parallel`
calls at a time; each item's outcome is its own (a partial batch failure): what failed stays
staged and is retried by the next run, and an item that fails `attempts_max` runs becomes an
exception with an owner.

Where it breaks: latency is the schedule (up to `interval_s` plus the run), the whole backlog of a
peak lands on the ERP at once, and state changes of invoices older than the window are missed.
Webhooks are acknowledged and not used, except to note when billing last changed something, so the
harness knows whether a run has seen it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple, cast

from rehearse.sync import decisions, rules
from rehearse.sync.errors import ErpFailure
from rehearse.sync.model import ErpDocument, Event
from rehearse.sync.posting import POSTED, post_once, routed
from rehearse.sync.ports import BillingClient, ErpClient, Random, Runtime, Trace
from rehearse.sync.store import (
    EXCEPTION, HELD, POSTED as POSTED_STATE, RETRY_WAIT, MemoryStore, Posting, park_exception,
)

if TYPE_CHECKING:
    from rehearse.sync.engine import Unfinished

EXCEPTION_OWNERS = {"tax_incomplete": "tax", "permanent": "ar-operations", "retries_exhausted": "integration-on-call",
                    "missing_reference": "master-data", "closed_period": "gl-accounting"}
LEVELS = (("customer",), ("invoice",), ("payment", "void", "writeoff"), ("reversal",))  # bulk post order


class BatchSettings(NamedTuple):
    """The batch job's knobs (``[engine.batch]``)."""

    interval_s: float = 3600.0
    overlap_s: float = 600.0
    invoice_window_s: float = 30 * 86400.0
    parallel: int = 15
    attempts_max: int = 6
    retries_in_run: int = 5
    period_routing: bool = True
    tax_check: bool = True
    durable_store: bool = True
    retry: decisions.RetryPolicy = decisions.RetryPolicy()


class Staged(NamedTuple):
    """What staged validation made of one run's extract."""

    levels: tuple[tuple[ErpDocument, ...], ...]  # ready to post, in bulk-post order
    waiting: tuple[ErpDocument, ...]  # parent neither posted nor in this batch: a later run
    untaxed: tuple[ErpDocument, ...]  # never posted: an exception for the tax team
    closed: tuple[ErpDocument, ...] = ()  # dated in a period known closed, without routing: an exception


def stage(documents: list[ErpDocument], untaxed_ids: frozenset[str], is_posted, closed: frozenset[tuple[str, str]],
          period_routing: bool) -> Staged:
    """Validate one run's new documents: untaxed invoices (and documents of them) out, documents
    whose parent is neither posted nor in the batch wait, known-closed periods routed on (or,
    without routing, rejected)."""
    in_batch = {document.external_id for document in documents}
    levels: list[list[ErpDocument]] = [[] for _ in LEVELS]
    waiting: list[ErpDocument] = []
    untaxed: list[ErpDocument] = []
    rejected: list[ErpDocument] = []
    for document in documents:
        if document.source_id in untaxed_ids or document.parent_id in untaxed_ids:
            untaxed.append(document)
            continue
        parent = document.parent_id
        if parent and not is_posted(parent) and parent not in in_batch:
            waiting.append(document)
            continue
        if not period_routing and (document.entity, document.posting_period) in closed:
            rejected.append(document)
            continue
        while (document.entity, document.posting_period) in closed:
            document = routed(document)
        level = next(index for index, types in enumerate(LEVELS) if document.doc_type in types)
        levels[level].append(document)
    return Staged(tuple(tuple(level) for level in levels), tuple(waiting), tuple(untaxed), tuple(rejected))


def after_failure(outcome: str, tries_in_run: int, runs_failed: int, settings: BatchSettings) -> str:
    """What becomes of an item after a failed post, its `tries_in_run`-th try in this run:
    "reroute" (post again now, next period), "again" (a throttled or unavailable ERP, or an unknown
    outcome: back off and try again within the run), "next_run" (stays staged) or, in the run
    that fails it for the `attempts_max`-th time, an exception reason."""
    if outcome == decisions.CLOSED_PERIOD:
        return "reroute" if settings.period_routing else "closed_period"
    if outcome in (decisions.PERMANENT, decisions.DUPLICATE):
        return "permanent"
    if outcome in (decisions.TRANSIENT, decisions.AMBIGUOUS) and tries_in_run <= settings.retries_in_run:
        return "again"
    if runs_failed + 1 >= settings.attempts_max:
        return "missing_reference" if outcome == decisions.MISSING_REFERENCE else "retries_exhausted"
    return "next_run"


class BatchEngine:
    """The batch pattern over the engine ports."""

    pattern = "batch"

    def __init__(self, *, runtime: Runtime, erp: ErpClient, billing: BillingClient, store: MemoryStore,
                 trace: Trace, random: Random, settings: BatchSettings) -> None:
        self.runtime = runtime
        self.random = random
        self.runs_failed: dict[str, int] = {}  # external id -> runs that ended with it failed
        # Staged and not finished (waiting for a parent, or failed): every run tries them again,
        # whether or not the extract lists their source again.
        self.staged: dict[str, Posting] = {}
        self.erp = erp
        self.billing = billing
        self.store = store
        self.trace = trace
        self.settings = settings
        self.up = True
        self.generation = 0
        self.running = False
        self.runs = 0
        self.watermark_s = runtime.now()
        self.closed: set[tuple[str, str]] = set()  # (entity, period) the ERP answered CLOSED_TRAN_PRD for
        self.last_change_s = float("-inf")  # the last webhook: billing changed something then
        self.last_gap_fill_s = float("-inf")  # start of the last completed run's extract
        self.pending = 0  # items that failed in the last run (or were replayed): the next run retries them

    def start(self) -> None:
        """Start the schedule."""
        self.runtime.spawn(self._schedule(self.generation))

    def receive(self, event: Event) -> bool:
        """Acknowledged and not used: batch reads billing's list APIs. Noted so the harness knows
        whether a run has seen the latest change."""
        if not self.up:
            return False
        self.last_change_s = self.runtime.now()
        return True

    def crash(self) -> None:
        """The job dies mid-run; the staging table survives if the store is durable."""
        self.up = False
        self.generation += 1
        self.running = False
        self.trace.emit(self.runtime.now(), "engine.crashed", value=float(self.generation))

    def restart(self) -> None:
        """Back up: the watermark was in memory, so the next run lists the whole invoice window."""
        self.store = self.store.reopen() if self.settings.durable_store else self.store.fresh()
        self.watermark_s = self.runtime.now() - self.settings.invoice_window_s
        self.staged = {key: posting for key, posting in self.store.postings.items()
                       if posting.state in (RETRY_WAIT, HELD)}
        self.pending = sum(posting.state == RETRY_WAIT for posting in self.staged.values())
        self.up = True
        self.start()
        self.trace.emit(self.runtime.now(), "engine.restarted", value=float(len(self.unfinished())))

    async def _schedule(self, generation: int) -> None:
        while generation == self.generation:
            await self.runtime.sleep(self.settings.interval_s)
            if generation != self.generation:
                return
            self.running = True
            try:
                await self._run(generation)
            finally:
                if generation == self.generation:
                    self.running = False

    async def _run(self, generation: int) -> None:
        """One batch: extract, stage, bulk post."""
        settings = self.settings
        started_s = self.runtime.now()
        self.runs += 1
        batch_id = f"batch-{self.runs:06d}"
        since_s = self.watermark_s - settings.overlap_s
        customers = await self.billing.list_customers(since_s)
        invoices = await self.billing.list_invoices(started_s - settings.invoice_window_s)
        charges = await self.billing.list_charges(since_s)
        if generation != self.generation:
            return
        documents, untaxed_ids = self._extract(customers, invoices, charges)
        await self._look_up_parents(documents, generation)
        if generation != self.generation:
            return
        is_posted = self.store.is_posted
        staged = stage(documents, untaxed_ids, is_posted, frozenset(self.closed), settings.period_routing)
        now = self.runtime.now()
        self.pending = 0
        for document in staged.untaxed:
            if document.doc_type == "invoice":  # its payments and reversals wait with it, unstaged
                self._exception(self._staged(document, now, RETRY_WAIT), "tax_incomplete", "automatic tax incomplete")
        for document in staged.closed:
            self._exception(self._staged(document, now, RETRY_WAIT), "closed_period",
                            f"period {document.posting_period} is closed")
        for document in staged.waiting:  # the next run looks again, `attempts_max` runs in all
            posting = self._staged(document, now, HELD)
            runs = self.runs_failed[document.external_id] = self.runs_failed.get(document.external_id, 0) + 1
            if runs >= settings.attempts_max:
                self._exception(posting, "missing_reference", f"{document.parent_id} is not in the ERP")
        self.trace.emit(now, "engine.batch", object_id=batch_id, value=float(sum(map(len, staged.levels))),
                        detail=f"waiting {len(staged.waiting)} untaxed {len(staged.untaxed)}")
        for index, level in enumerate(staged.levels):
            ready = []
            for document in level:
                # A parent that failed earlier in this run holds its children back, unattempted.
                held = index > 0 and not is_posted(document.parent_id)
                posting = self._staged(document, self.runtime.now(), HELD if held else RETRY_WAIT)
                if not held:
                    ready.append(posting)
            await self._bulk_post(ready, generation)
            if generation != self.generation:
                return
        self.watermark_s = started_s
        self.last_gap_fill_s = started_s

    async def _look_up_parents(self, documents: list[ErpDocument], generation: int) -> None:
        """Parents neither posted by this job nor in the batch may be in the ERP all the same (the
        book before the job, or a staging table lost in a crash): ask the ERP once per run."""
        in_batch = {document.external_id for document in documents}
        unknown: dict[str, str] = {}  # parent external id -> its document type
        for document in documents:
            parent = document.parent_id
            if parent and parent not in in_batch and not self.store.is_posted(parent):
                unknown.setdefault(parent, "customer" if document.doc_type == "invoice" else "invoice")
        for parent, doc_type in unknown.items():
            try:
                internal_id = await self.erp.lookup(doc_type, parent)
            except ErpFailure:
                internal_id = None  # nobody knows: the document waits for the next run
            if generation != self.generation:
                return
            self.trace.emit(self.runtime.now(), "engine.lookup", object_id=parent,
                            code="found" if internal_id else "absent")
            if internal_id:
                posting = Posting(parent, None, POSTED_STATE, self.runtime.now())
                posting.internal_id = internal_id
                self.store.postings[parent] = posting
                self.store.save(posting)

    def _extract(self, customers, invoices, charges) -> tuple[list[ErpDocument], frozenset[str]]:
        """Every document the extract calls for that is not posted or parked yet (staged ones
        again, so a failed item is retried), and the ids of untaxed invoices."""
        postings = self.store.postings
        done = (POSTED_STATE, EXCEPTION)

        staged = self.staged

        def needed(key: str) -> bool:  # staged ones are added below, as staged (maybe routed)
            posting = postings.get(key)
            return (posting is None or posting.state not in done) and key not in staged

        documents: list[ErpDocument] = []
        untaxed: set[str] = set()
        now = self.runtime.now()
        for customer in customers:
            if needed(customer.id):
                documents.append(rules.customer_document(customer))
        for invoice in invoices:
            if self.settings.tax_check and invoice.tax_status != "complete":
                untaxed.add(invoice.id)  # its payments must not wait for it: it will never be posted
            # Most invoices need nothing more: look at the keys before building documents.
            derived = {"void": "void", "uncollectible": "writeoff"}.get(invoice.status)
            if not needed(invoice.id) and not (derived and needed(rules.external_id(derived, invoice.id))):
                continue
            documents.extend(d for d in rules.invoice_documents(invoice, now) if needed(d.external_id))
        for charge in charges:
            if needed(charge.id):
                documents.append(rules.payment_document(charge))
            if charge.status == "reversed" and needed(rules.external_id("reversal", charge.id)):
                documents.append(rules.reversal_document(charge))
        # Staged postings are not posted yet, so each has its document (one cast for them all).
        documents.extend(cast("Iterable[ErpDocument]", (posting.document for posting in staged.values())))
        return documents, frozenset(untaxed)

    def _staged(self, document: ErpDocument, now: float, state: str) -> Posting:
        postings = self.store.postings
        posting = postings.get(document.external_id)
        if posting is None:
            posting = Posting(document.external_id, document, state, now)
            postings[document.external_id] = posting
            self.trace.emit(now, "engine.queued", object_id=document.external_id, ref_id=document.source_id,
                            code=document.doc_type)
        elif posting.document is None or posting.document.posting_period < document.posting_period:
            posting.document = document  # routed on since it was staged
        posting.state = state
        self.staged[posting.key] = posting
        self.store.save(posting)
        return posting

    async def _bulk_post(self, postings: list[Posting], generation: int) -> None:
        """Post a level, `parallel` calls at a time; each item's outcome is its own."""
        queue = self.runtime.queue()
        for posting in postings:
            queue.put(posting)
        remaining = [len(postings)]
        done = self.runtime.queue()
        workers = min(self.settings.parallel, len(postings))
        for _ in range(workers):
            self.runtime.spawn(self._post_worker(queue, remaining, done, generation))
        if workers:
            await done.get()

    async def _post_worker(self, queue, remaining: list[int], done, generation: int) -> None:
        while len(queue) > 0:  # every item was queued before the workers started
            posting = await queue.get()
            await self._post(posting, generation)
            if generation != self.generation:
                return
            remaining[0] -= 1
            if remaining[0] == 0:
                done.put(None)  # the last item of the level: wake the run

    async def _post(self, posting: Posting, generation: int) -> None:
        settings = self.settings
        tries = 0
        while True:
            # Staged, so not posted: it has its document (posting drops it). No check: every attempt comes here.
            document: ErpDocument = posting.document  # type: ignore[assignment]
            posting.attempts += 1
            tries += 1
            attempt = await post_once(self.erp, document)
            if generation != self.generation:
                return
            now = self.runtime.now()
            if attempt.outcome == POSTED:
                posting.state = POSTED_STATE
                self.staged.pop(posting.key, None)
                posting.internal_id = attempt.internal_id
                posting.document = None
                self.store.save(posting)
                self.trace.emit(now, "engine.posted", object_id=document.external_id, ref_id=document.source_id,
                                code=document.doc_type, value=float(posting.attempts))
                return
            runs_failed = self.runs_failed.get(document.external_id, 0)
            action = after_failure(attempt.outcome, tries, runs_failed, settings)
            if action == "again":
                delay_s = decisions.retry_delay_s(settings.retry, tries, self.random.random(), attempt.retry_after_s)
                self.trace.emit(now, "engine.retry", object_id=document.external_id, code=attempt.code, value=delay_s)
                await self.runtime.sleep(delay_s)
                if generation != self.generation:
                    return
                continue
            if action == "reroute":
                self.closed.add((document.entity, document.posting_period))
                posting.document = routed(document)
                posting.late = True
                self.trace.emit(now, "engine.rerouted", object_id=document.external_id, ref_id=document.source_id,
                                period=posting.document.posting_period, detail=document.posting_period)
                continue
            self.runs_failed[document.external_id] = runs_failed + 1
            if action == "next_run":
                self.pending += 1
                self.store.save(posting)
                self.trace.emit(now, "engine.retry", object_id=document.external_id, code=attempt.code,
                                value=settings.interval_s)
                return
            self._exception(posting, action, f"{attempt.code}: {attempt.message}")
            return

    def _exception(self, posting: Posting, reason: str, detail: str) -> None:
        self.staged.pop(posting.key, None)
        park_exception(self.store, self.trace, posting, reason, EXCEPTION_OWNERS.get(reason, "ar-operations"),
                       detail, self.runtime.now())

    def replay(self, external_id: str) -> bool:
        """A person resolved an exception: the item is staged again for the next run."""
        record = self.store.close_exception(external_id)
        posting = self.store.postings.get(external_id)
        if record is None or posting is None or posting.state != EXCEPTION:
            return False
        self.trace.emit(self.runtime.now(), "engine.exception_resolved", object_id=external_id, code="replayed",
                        detail=record.reason)
        posting.state = RETRY_WAIT
        posting.attempts = 0
        if record.reason == "closed_period":  # a person says: post it into the next period
            posting.document = routed(cast(ErpDocument, posting.document))  # parked, not posted
            posting.late = True
        self.staged[external_id] = posting
        self.runs_failed.pop(external_id, None)
        self.pending += 1
        self.store.save(posting)
        return True

    def idle(self) -> bool:
        """No run going, nothing staged, and a run has started since billing last changed."""
        if not self.up or self.running:
            return False
        return self.last_gap_fill_s >= self.last_change_s and self.pending == 0

    def unfinished(self) -> list[Unfinished]:
        """Items staged and not posted (failed ones waiting for the next run)."""
        # Not posted yet, so each still holds its document (posting clears it).
        return cast("list[Unfinished]", self.store.unfinished())


def create(ports) -> BatchEngine:
    """The batch pattern's factory (`rehearse.sync.engine.EngineFactory`)."""
    section = ports.settings
    table = section["batch"]
    settings = BatchSettings(
        interval_s=table["interval_s"], overlap_s=table["overlap_s"], invoice_window_s=table["invoice_window_s"],
        parallel=table["parallel"] or section["concurrency"], attempts_max=table["attempts_max"],
        retries_in_run=table["retries_in_run"], period_routing=table["period_routing"], tax_check=table["tax_check"],
        durable_store=section["durable_store"],
        retry=decisions.RetryPolicy(section["retry_base_s"], section["retry_cap_s"], section["retry_jitter_share"],
                                    section["retry_attempts_max"], section["respect_retry_after"]),
    )
    return BatchEngine(runtime=ports.runtime, erp=ports.erp, billing=ports.billing, store=ports.store,
                       trace=ports.trace, random=ports.random, settings=settings)
