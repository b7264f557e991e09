"""The point-to-point pattern: the webhook handler calls the ERP inline and answers the sender
only after the ERP answered.

How teams build it: one HTTP endpoint; for each event it maps the payload with the posting rules
and posts to the ERP (with external ids, so the ERP's DUP_RCRD answer makes a second create
harmless); a few immediate retries on a transient error, then a 500 so the platform's sender
retries on its schedule (minutes to days); a closed period is routed to the next one at once; an
error no retry will fix is logged as an alert for a person and acknowledged (a 500 would only make
the sender retry it for three days). There is no queue and no durable state: the work in flight
lives in the handlers, and a crash loses it (the sender retries what was not acknowledged).

Where it breaks: the handler holds the sender's request while the ERP works, so a slow or throttled
ERP turns into failed deliveries, and what fails past the sender's retry window is lost; nothing
orders events (a payment before its invoice fails until the sender retries it later); no gap-fill.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, cast

from rehearse.sync import decisions, rules, wire
from rehearse.sync.model import ErpDocument, Event
from rehearse.sync.posting import POSTED, post_once, routed, without_external_id
from rehearse.sync.ports import ErpClient, Runtime, Trace
from rehearse.sync.store import IN_FLIGHT, Posting

if TYPE_CHECKING:
    from rehearse.sync.engine import Unfinished

# What a handler does after a failed call.
RETRY = "retry"  # try again inside the handler
FAIL = "fail"  # answer 500: the sender retries later
ALERT = "alert"  # log an alert for a person and acknowledge: retrying will not help
REROUTE = "reroute"  # closed period: post into the next one now


class P2pSettings(NamedTuple):
    """The p2p handler's knobs (``[engine.p2p]``)."""

    workers: int = 15
    backlog_max: int | None = None  # None: no limit (a web server's accept queue is large)
    retries: int = 2
    retry_delay_s: float = 1.0
    external_ids: bool = True
    period_routing: bool = True
    tax_check: bool = True


def documents_for(event: Event, external_ids: bool) -> tuple[ErpDocument, ...]:
    """What the handler posts for one event, in order. With external ids every invoice event
    upserts the invoice (a lost `invoice.finalized` is made good by `invoice.paid`); without, a
    repeat would create a second invoice, so only the event that creates a document posts it."""
    data: Any = event.data  # Any: a Customer, Charge or Invoice as `event.type` says (mypy cannot follow)
    kind = event.type
    if kind == "customer.created":
        return (rules.customer_document(data),)
    if kind == "charge.succeeded":
        return (rules.payment_document(data),)
    if kind == "charge.reversed":  # a returned bank debit: the payment (if it never came), then its reversal
        reversal = rules.reversal_document(data)
        return (rules.payment_document(data), reversal) if external_ids else (reversal,)
    if kind not in rules.INVOICE_EVENT_TYPES:
        return ()
    documents = rules.invoice_documents(data, event.created_s)
    if external_ids:
        return documents
    wanted = {"invoice.finalized": "invoice", "invoice.voided": "void",
              "invoice.marked_uncollectible": "writeoff"}.get(kind)
    return tuple(document for document in documents if document.doc_type == wanted)


def after_failure(outcome: str, tries: int, retries: int, period_routing: bool) -> str:
    """What the handler does after its `tries`-th failed call (tries >= 1)."""
    if outcome == decisions.CLOSED_PERIOD:
        return REROUTE if period_routing else ALERT
    if outcome in (decisions.PERMANENT, decisions.DUPLICATE):
        return ALERT
    return RETRY if tries <= retries else FAIL


class P2pEngine:
    """Point-to-point over the engine ports. `receive` returns the handler's coroutine."""

    pattern = "p2p"

    def __init__(self, *, runtime: Runtime, erp: ErpClient, trace: Trace, settings: P2pSettings) -> None:
        self.runtime = runtime
        self.erp = erp
        self.trace = trace
        self.settings = settings
        self.up = True
        self.generation = 0
        self.handling: dict[int, Posting] = {}  # handler number -> the posting it is doing now
        self.internal_ids: dict[str, str] = {}  # external id -> internal id, in memory only
        self._handlers = 0
        self.backlog = 0  # requests waiting for a worker
        self.slots = self._new_slots()

    def _new_slots(self):
        slots = self.runtime.queue()  # the web server's workers: a request waits here for one
        for _ in range(self.settings.workers):
            slots.put(None)
        return slots

    def start(self) -> None:
        """Nothing runs in the background: all work happens inside webhook requests."""

    def crash(self) -> None:
        """The process dies with every request it was handling (the sender sees them fail)."""
        self.up = False
        self.generation += 1
        self.handling = {}
        self.internal_ids = {}
        self.backlog = 0
        self.slots = self._new_slots()
        self.trace.emit(self.runtime.now(), "engine.crashed", value=float(self.generation))

    def restart(self) -> None:
        """Back up, empty: there is nothing to recover."""
        self.up = True
        self.trace.emit(self.runtime.now(), "engine.restarted", value=0.0)

    def receive(self, event: Event):
        """One webhook request: False while down or unreadable, True when there is nothing to
        post, else the coroutine that posts and then answers."""
        if not self.up:
            return False
        now = self.runtime.now()
        # Any: a wire dict is told by `type(data) is dict` (mypy narrows only where it holds), and
        # which record it is goes with `event.type`.
        data: Any = event.data
        if type(data) is dict:
            try:
                data = wire.from_wire(data, (wire.CURRENT_VERSION,))
            except wire.WireError as error:  # the handler fails on a payload it cannot read: a 500
                self.trace.emit(now, "engine.dead_lettered", object_id=event.id, ref_id=str(data.get("id", "")),
                                code=event.type, detail=f"refused: {error.message}")
                return False
            event = event._replace(data=data)
        documents = documents_for(event, self.settings.external_ids)
        if not documents:
            self.trace.emit(now, "engine.ignored", object_id=event.id, ref_id=data.id, code=event.type)
            return True
        if self.settings.backlog_max is not None and self.backlog >= self.settings.backlog_max:
            return False  # the server sheds load: 503 at once, the sender retries later
        self.trace.emit(now, "engine.received", object_id=event.id, ref_id=data.id, code=event.type)
        if self.settings.tax_check and event.type in rules.INVOICE_EVENT_TYPES and data.tax_status != "complete":
            self.trace.emit(now, "engine.exception_opened", object_id=data.id, ref_id=data.id,
                            code="tax_incomplete", detail="tax")
            return True  # an alert for the tax team; never post zero tax
        return self._handle(documents, self.generation)

    async def _handle(self, documents: tuple[ErpDocument, ...], generation: int) -> bool:
        slots = self.slots
        self.backlog += 1
        await slots.get()
        if generation == self.generation:
            self.backlog -= 1
        handler = self._handlers = self._handlers + 1
        try:
            for document in documents:
                if not await self._post(document, handler, generation):
                    return False
            return True
        finally:
            self.handling.pop(handler, None)
            if generation == self.generation:
                slots.put(None)

    async def _post(self, document: ErpDocument, handler: int, generation: int) -> bool:
        """Post one document with the handler's few retries; False means answer 500."""
        settings = self.settings
        trace = self.trace
        posting = Posting(document.external_id, document, IN_FLIGHT, self.runtime.now())
        self.handling[handler] = posting
        trace.emit(self.runtime.now(), "engine.queued", object_id=document.external_id,
                   ref_id=document.source_id, code=document.doc_type)
        tries = 0
        while True:
            sent = document if settings.external_ids else without_external_id(document, self.internal_ids)
            tries += 1
            attempt = await post_once(self.erp, sent)
            now = self.runtime.now()
            if generation != self.generation:
                return False  # the process died while the call was out: nobody answers
            if attempt.outcome == POSTED:
                self.internal_ids[document.external_id] = attempt.internal_id
                trace.emit(now, "engine.posted", object_id=document.external_id, ref_id=document.source_id,
                           code=document.doc_type, value=float(tries))
                return True
            action = after_failure(attempt.outcome, tries, settings.retries, settings.period_routing)
            if action == REROUTE:
                previous = document  # the posting's document so far
                document = routed(document)
                trace.emit(now, "engine.rerouted", object_id=document.external_id, ref_id=document.source_id,
                           period=document.posting_period, detail=previous.posting_period)
                posting.document = document
            elif action == ALERT:
                trace.emit(now, "engine.exception_opened", object_id=document.external_id,
                           ref_id=document.source_id, code="permanent", detail="ar-operations")
                return True
            elif action == FAIL:
                return False
            else:
                trace.emit(now, "engine.retry", object_id=document.external_id, code=attempt.code,
                           value=settings.retry_delay_s)
                await self.runtime.sleep(settings.retry_delay_s)
                if generation != self.generation:
                    return False

    def idle(self) -> bool:
        """No request being handled (the sender holds everything else)."""
        return self.up and not self.handling

    def unfinished(self) -> list[Unfinished]:
        """The postings the handlers are doing now."""
        # Not posted yet, so each still holds its document (posting clears it).
        return cast("list[Unfinished]", list(self.handling.values()))


def create(ports) -> P2pEngine:
    """The p2p pattern's factory (`rehearse.sync.engine.EngineFactory`)."""
    section = ports.settings
    table = section["p2p"]
    settings = P2pSettings(
        workers=table["workers"] or section["concurrency"], retries=table["retries"],
        backlog_max=table["backlog_max"],
        retry_delay_s=table["retry_delay_s"], external_ids=table["external_ids"],
        period_routing=table["period_routing"], tax_check=table["tax_check"],
    )
    return P2pEngine(runtime=ports.runtime, erp=ports.erp, trace=ports.trace, settings=settings)
