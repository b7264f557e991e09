"""The event-driven pattern: the webhook handler publishes each event to a bus and acknowledges;
consumers post one event at a time.

How teams build it (Kafka, SQS FIFO, Pub/Sub with ordering keys): the bus is partitioned by
customer id, so one customer's events keep their order; one consumer per partition; delivery is
at least once (a message is removed only after its consumer is done with it, so one in flight when
a consumer dies is delivered again). Consumers are idempotent: processed event ids and posted
documents are remembered in the `Store`, and documents carry external ids. A failed post is
retried with capped exponential backoff and jitter on a retry topic (the partition moves on;
``blocking_retries = true`` holds the partition instead, for strict order); after `retries_max`
retries the event goes to the dead-letter queue, which a person replays. A closed period is routed
to the next one; an error no retry will fix is parked as an exception with an owner.

Where it breaks: the bus orders by arrival, and billing's sender does not deliver in order, so a
payment reaching a consumer before its invoice is posted fails and is retried on backoff (or, past
the retries, dead-lettered); a long ERP outage moves whole partitions into the dead-letter queue;
events the sender gave up never reach the bus (no gap-fill).
"""

from __future__ import annotations

import zlib
from collections import deque
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from rehearse.sync import decisions, rules, wire
from rehearse.sync.model import ErpDocument, Event
from rehearse.sync.posting import POSTED, post_once, routed, without_external_id
from rehearse.sync.ports import ErpClient, Random, Runtime, Trace
from rehearse.sync.store import EXCEPTION, IN_FLIGHT, POSTED as POSTED_STATE, MemoryStore, Posting, park_exception

if TYPE_CHECKING:
    from rehearse.sync.engine import Unfinished

EXCEPTION_OWNERS = {"tax_incomplete": "tax", "permanent": "ar-operations", "closed_period": "gl-accounting"}

# What a consumer does after a failed post.
RETRY = "retry"
DEAD_LETTER = "dead_letter"
REROUTE = "reroute"


class EventSettings(NamedTuple):
    """The consumers' knobs (``[engine.event]`` and the shared retry policy)."""

    consumers: int = 15
    retries_max: int = 10
    blocking_retries: bool = False
    dedupe: bool = True
    external_ids: bool = True
    period_routing: bool = True
    tax_check: bool = True
    retry: decisions.RetryPolicy = decisions.RetryPolicy()
    durable_store: bool = True


def partition_of(key: str, partitions: int) -> int:
    """The partition of an ordering key: stable across runs and processes (CRC-32, not `hash`)."""
    return zlib.crc32(key.encode()) % partitions


def ordering_key(event: Event) -> str:
    """Events are keyed by customer, so one customer's events stay in order on the bus."""
    data: Any = event.data  # Any: its type goes with `event.type`, which mypy cannot follow
    if event.type == "engine.replay":  # a resolved exception's document
        return data.external_id
    return data.id if event.type == "customer.created" else data.customer_id


def after_failure(outcome: str, retries: int, retries_max: int, period_routing: bool) -> str:
    """What a consumer does after a failed post, `retries` retries in: retry, dead-letter, reroute
    or park (an exception reason)."""
    if outcome == decisions.CLOSED_PERIOD:
        return REROUTE if period_routing else "closed_period"
    if outcome in (decisions.PERMANENT, decisions.DUPLICATE):
        return "permanent"
    return RETRY if retries < retries_max else DEAD_LETTER


class EventEngine:
    """The event-driven pattern over the engine ports."""

    pattern = "event"

    def __init__(self, *, runtime: Runtime, erp: ErpClient, store: MemoryStore, trace: Trace, random: Random,
                 settings: EventSettings) -> None:
        self.runtime = runtime
        self.erp = erp
        self.store = store
        self.trace = trace
        self.random = random
        self.settings = settings
        self.up = True
        self.generation = 0
        # The broker: it runs apart from the engine's process, so it survives a crash.
        self.partitions: list[deque[tuple[Event, int]]] = [deque() for _ in range(settings.consumers)]
        self.delayed = 0  # messages on the retry topic, waiting for their backoff
        self.busy: dict[int, Posting] = {}  # partition -> the posting its consumer is doing
        self._bells: list = []
        self._sleeping: list[bool] = []
        self.api_versions: tuple[str, ...] = (wire.CURRENT_VERSION,)  # payload versions the consumers map

    def start(self) -> None:
        """Start one consumer per partition."""
        self._bells = [self.runtime.queue() for _ in self.partitions]
        self._sleeping = [False] * len(self.partitions)
        for index in range(len(self.partitions)):
            self.runtime.spawn(self._consume(index, self.generation))

    def crash(self) -> None:
        """The consumers die; the bus keeps every message they had not finished."""
        self.up = False
        self.generation += 1
        self.busy = {}
        self.trace.emit(self.runtime.now(), "engine.crashed", value=float(self.generation))

    def restart(self) -> None:
        """Consumers start again from the bus; the store is what the durable setting kept."""
        self.store = self.store.reopen() if self.settings.durable_store else self.store.fresh()
        self.up = True
        self.start()
        self.trace.emit(self.runtime.now(), "engine.restarted", value=float(sum(map(len, self.partitions))))

    def receive(self, event: Event) -> bool:
        """Publish to the bus and acknowledge. The handler does not read the payload, so a new
        API version reaches the consumers (which dead-letter what they cannot map)."""
        if not self.up:
            return False
        self._publish(self._partition(event), event, 0)
        return True

    def _partition(self, event: Event) -> int:
        data = event.data
        key = data.get("customer_id", data.get("id", "")) if type(data) is dict else ordering_key(event)
        return partition_of(str(key), len(self.partitions))

    def _publish(self, partition: int, event: Event, retries: int) -> None:
        self.partitions[partition].append((event, retries))
        if self._sleeping and self._sleeping[partition]:
            self._sleeping[partition] = False
            self._bells[partition].put(None)

    def _redeliver(self, partition: int, event: Event, retries: int) -> None:
        self.delayed -= 1
        self._publish(partition, event, retries)

    async def _consume(self, partition: int, generation: int) -> None:
        log = self.partitions[partition]
        while generation == self.generation:
            if not log:
                self._sleeping[partition] = True
                await self._bells[partition].get()
                continue
            event, retries = log[0]
            delay_s = await self._handle(partition, event, retries, generation)
            if generation != self.generation:
                return  # not committed: the message is delivered again after the restart
            if delay_s is not None and self.settings.blocking_retries:
                await self.runtime.sleep(delay_s)  # strict order: the partition waits for the retry
                if generation != self.generation:
                    return
                log[0] = (event, retries + 1)
                continue
            log.popleft()  # commit
            if delay_s is not None:  # the retry topic: back on the partition after the backoff
                self.delayed += 1
                self.runtime.call_later(delay_s, self._redeliver, partition, event, retries + 1)

    async def _handle(self, partition: int, event: Event, retries: int, generation: int) -> float | None:
        """Process one message; returns the backoff before a retry, or None when done with it."""
        now = self.runtime.now()
        store = self.store
        # Any: a wire dict is told by `type(data) is dict` (mypy narrows only where it holds).
        data: Any = event.data
        if type(data) is dict:
            try:
                data = wire.from_wire(data, self.api_versions)
            except wire.WireError as error:
                store.dead_letters[event.id] = (event, error.message)
                self.trace.emit(now, "engine.dead_lettered", object_id=event.id, ref_id=str(data.get("id", "")),
                                code=event.type, detail=error.message)
                return None
        dedupe = self.settings.dedupe
        if retries == 0 and dedupe and event.id in store.seen_event_ids:
            self.trace.emit(now, "engine.duplicate_dropped", object_id=event.id, ref_id=data.id, code=event.type)
            return None
        delay_s = await self._process(partition, event._replace(data=data), retries, generation)
        if delay_s is None and dedupe and generation == self.generation and event.id not in store.dead_letters:
            store.mark_seen(event.id)  # processed: only now, so a redelivery after a crash is not dropped
        return delay_s

    async def _process(self, partition: int, event: Event, retries: int, generation: int) -> float | None:
        now = self.runtime.now()
        # Any: the record (a replay's ERP document) goes with `event.type`, which mypy cannot follow.
        data: Any = event.data
        if event.type == "engine.replay":  # an exception a person resolved: its document again
            return await self._post(partition, event, data, retries, generation)
        documents = self._documents(event)
        if not documents:
            if retries == 0:
                self.trace.emit(now, "engine.ignored", object_id=event.id, ref_id=data.id, code=event.type)
            return None
        if retries == 0:
            self.trace.emit(now, "engine.received", object_id=event.id, ref_id=data.id, code=event.type)
        if self.settings.tax_check and event.type in rules.INVOICE_EVENT_TYPES and data.tax_status != "complete":
            posting = self._posting(documents[0], now)
            if posting.state != EXCEPTION:
                self._exception(posting, "tax_incomplete", f"automatic tax: {data.tax_status}")
            return None
        for document in documents:
            delay_s = await self._post(partition, event, document, retries, generation)
            if delay_s is not None or generation != self.generation:
                return delay_s
        return None

    def _documents(self, event: Event) -> tuple[ErpDocument, ...]:
        data: Any = event.data  # Any: a Customer, Charge or Invoice as `event.type` says (mypy cannot follow)
        if event.type == "customer.created":
            return (rules.customer_document(data),)
        if event.type == "charge.succeeded":
            return (rules.payment_document(data),)
        if event.type == "charge.reversed":  # a returned bank debit: the payment first, then its reversal
            return (rules.payment_document(data), rules.reversal_document(data))
        if event.type in rules.INVOICE_EVENT_TYPES:
            return rules.invoice_documents(data, event.created_s)
        return ()

    def _posting(self, document: ErpDocument, now: float) -> Posting:
        postings = self.store.postings
        posting = postings.get(document.external_id)
        if posting is None:
            posting = postings[document.external_id] = Posting(document.external_id, document, IN_FLIGHT, now)
            self.trace.emit(now, "engine.queued", object_id=document.external_id, ref_id=document.source_id,
                            code=document.doc_type)
        return posting

    async def _post(self, partition: int, event: Event, document: ErpDocument, retries: int,
                    generation: int) -> float | None:
        settings = self.settings
        posting = self._posting(document, self.runtime.now())
        if settings.dedupe and posting.state in (POSTED_STATE, EXCEPTION):
            return None  # posted (or parked) by an earlier event about the same object
        if posting.document is None:
            posting.document = document
        self.busy[partition] = posting
        try:
            while True:
                sent = posting.document if settings.external_ids else self._without_external_id(posting.document)
                posting.attempts += 1
                attempt = await post_once(self.erp, sent)
                if generation != self.generation:
                    return None
                now = self.runtime.now()
                if attempt.outcome == POSTED:
                    posting.state = POSTED_STATE
                    posting.internal_id = attempt.internal_id
                    posting.document = None
                    self.store.save(posting)
                    self.trace.emit(now, "engine.posted", object_id=document.external_id,
                                    ref_id=document.source_id, code=document.doc_type, value=float(posting.attempts))
                    return None
                action = after_failure(attempt.outcome, retries, settings.retries_max, settings.period_routing)
                if action == REROUTE:
                    posting.document = routed(posting.document)
                    posting.late = True
                    self.trace.emit(now, "engine.rerouted", object_id=document.external_id, ref_id=document.source_id,
                                    period=posting.document.posting_period, detail=document.posting_period)
                    continue
                if action == RETRY:
                    delay_s = decisions.retry_delay_s(settings.retry, retries + 1, self.random.random(),
                                                      attempt.retry_after_s)
                    self.trace.emit(now, "engine.retry", object_id=document.external_id, code=attempt.code,
                                    value=delay_s)
                    return delay_s
                if action == DEAD_LETTER:
                    self.store.dead_letters[event.id] = (event, f"{retries} retries, last {attempt.code}")
                    self.trace.emit(now, "engine.dead_lettered", object_id=event.id, ref_id=document.source_id,
                                    code=event.type, detail=f"{retries} retries, last {attempt.code}")
                    return None
                self._exception(posting, action, f"{attempt.code}: {attempt.message}")
                return None
        finally:
            if generation == self.generation:
                self.busy.pop(partition, None)

    def _without_external_id(self, document: ErpDocument) -> ErpDocument:
        parent = self.store.postings.get(document.parent_id)
        known = {document.parent_id: parent.internal_id} if parent is not None and parent.internal_id else {}
        return without_external_id(document, known)

    def _exception(self, posting: Posting, reason: str, detail: str) -> None:
        park_exception(self.store, self.trace, posting, reason, EXCEPTION_OWNERS.get(reason, "ar-operations"),
                       detail, self.runtime.now())

    # -- people ----------------------------------------------------------------------------------

    def accept_api_version(self, version: str) -> None:
        """The consumers' mapping was upgraded to read another payload version."""
        if version not in self.api_versions:
            self.api_versions = (*self.api_versions, version)

    def replay_dead_letters(self) -> int:
        """Publish every dead-lettered event again, its retries reset; returns how many."""
        letters = list(self.store.dead_letters.values())
        self.store.dead_letters.clear()
        for event, _ in letters:
            self._publish(self._partition(event), event, 0)
        return len(letters)

    def replay(self, external_id: str) -> bool:
        """A person resolved an exception: the document is posted again by a consumer (into the next
        period when it was parked for a closed one, as the other patterns' operators do)."""
        record = self.store.close_exception(external_id)
        posting = self.store.postings.get(external_id)
        if record is None or posting is None or posting.state != EXCEPTION:
            return False
        now = self.runtime.now()
        self.trace.emit(now, "engine.exception_resolved", object_id=external_id, code="replayed", detail=record.reason)
        posting.state = IN_FLIGHT
        posting.attempts = 0
        document = cast(ErpDocument, posting.document)  # parked, not posted
        if record.reason == "closed_period":  # a person says: post it into the next period
            parked = document
            document = posting.document = routed(parked)
            posting.late = True
            self.trace.emit(now, "engine.rerouted", object_id=external_id, ref_id=parked.source_id,
                            period=document.posting_period, detail=parked.posting_period)
        # The bus's replay message carries the ERP document itself (`ordering_key`, `_process` read it so).
        # Its id names the moment: a posting can be replayed again later, and a second message under
        # the first one's id would be dropped as a duplicate once the dead-letter replay resets it.
        event = Event(f"replay:{external_id}@{now!r}", "engine.replay", now, document)  # type: ignore[arg-type]
        self._publish(partition_of(external_id, len(self.partitions)), event, 1)
        return True

    # -- observation ----------------------------------------------------------------------------

    def idle(self) -> bool:
        """The bus is empty, no consumer is busy and nothing waits on the retry topic."""
        return self.up and not self.busy and self.delayed == 0 and not any(self.partitions)

    def unfinished(self) -> list[Unfinished]:
        """Postings started and not finished (dead-lettered ones included)."""
        # Not posted yet, so each still holds its document (posting clears it).
        return cast("list[Unfinished]", self.store.unfinished())


def create(ports) -> EventEngine:
    """The event pattern's factory (`rehearse.sync.engine.EngineFactory`)."""
    section = ports.settings
    table = section["event"]
    retry = decisions.RetryPolicy(section["retry_base_s"], section["retry_cap_s"], section["retry_jitter_share"],
                                  section["retry_attempts_max"], section["respect_retry_after"])
    settings = EventSettings(
        consumers=table["consumers"] or section["concurrency"], retries_max=table["retries_max"],
        blocking_retries=table["blocking_retries"], dedupe=table["dedupe"], external_ids=table["external_ids"],
        period_routing=table["period_routing"], tax_check=table["tax_check"], retry=retry,
        durable_store=section["durable_store"],
    )
    return EventEngine(runtime=ports.runtime, erp=ports.erp, store=ports.store, trace=ports.trace,
                       random=ports.random, settings=settings)
