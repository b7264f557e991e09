"""A minimal sync engine from outside rehearse: copy this file, change it, run it.

    rehearse run smoke --engine examples/minimal_engine.py:create

It acknowledges each webhook at once and puts what it must post on a work queue; `workers`
coroutines post to the ERP with external ids (so a second create answers DUP_RCRD, which means
"already there") and put a failed post back on the queue after a pause. It keeps no durable state:
a crash loses the queue. What it does not do (and the report will show): deduplicate events, order
children after parents (a payment before its invoice just fails and waits), look up after a
timeout, route out of closed periods, raise exceptions for a person, gap-fill.

The contract (``rehearse.sync.engine.Engine``): ``up``, ``start()``, ``receive(event) -> bool``,
``idle() -> bool``, ``unfinished() -> list`` (items with ``.document`` and ``.state``),
``crash()``, ``restart()``. Engine code reaches time, randomness and the outside world only through
the ports it is given; it must never block or read the wall clock.
"""

from __future__ import annotations

from rehearse.sync import rules
from rehearse.sync.engine import EnginePorts
from rehearse.sync.errors import ErpFailure
from rehearse.sync.model import ErpDocument, Event

RETRY_PAUSE_S = 30.0  # how long a failed post waits before it is tried again
ATTEMPTS_MAX = 50  # after that many failures a document is given up (and reported missing)


class Work:
    """One document to post: what `unfinished` reports at the cut-off."""

    def __init__(self, document: ErpDocument) -> None:
        self.document = document
        self.state = "queued"
        self.attempts = 0


class MinimalEngine:
    """Webhook -> queue -> workers -> ERP."""

    def __init__(self, ports: EnginePorts) -> None:
        self.runtime = ports.runtime
        self.erp = ports.erp
        self.trace = ports.trace
        self.workers = int(ports.settings["options"].get("workers", ports.settings["concurrency"]))
        self.queue = self.runtime.queue()
        self.work: dict[str, Work] = {}  # external id -> work not finished yet
        self.busy = 0
        self.waiting = 0  # failed posts pausing before they go back on the queue
        self.up = True
        self.generation = 0  # a crash starts a new generation; the old workers stop

    def start(self) -> None:
        for _ in range(self.workers):
            self.runtime.spawn(self._worker(self.generation))

    def receive(self, event: Event) -> bool:
        if not self.up:
            return False  # the sender retries later
        if type(event.data) is dict:
            return True  # a payload version this engine cannot read: dropped (a weakness)
        if event.type == "customer.created":
            documents = [rules.customer_document(event.data)]
        elif event.type == "charge.succeeded":
            documents = [rules.payment_document(event.data)]
        elif event.type in rules.INVOICE_EVENT_TYPES and event.data.tax_status == "complete":
            documents = list(rules.invoice_documents(event.data, event.created_s))
        else:
            documents = []
        for document in documents:
            if document.external_id not in self.work:
                self.work[document.external_id] = work = Work(document)
                self.trace.emit(self.runtime.now(), "engine.queued", object_id=document.external_id,
                                ref_id=document.source_id, code=document.doc_type)
                self.queue.put(work)
        return True

    async def _worker(self, generation: int) -> None:
        while generation == self.generation:
            work = await self.queue.get()
            if generation != self.generation:
                return
            self.busy += 1
            work.attempts += 1
            code = ""
            try:
                await self.erp.post(work.document)
            except ErpFailure as error:
                code = getattr(error, "code", type(error).__name__)  # ErpError has a code; timeouts do not
            # DUP_RCRD: the ERP has this external id already (an earlier try was applied).
            posted = code in ("", "DUP_RCRD")
            self.busy -= 1
            if generation != self.generation:
                return
            document = work.document
            if posted:
                self.work.pop(document.external_id, None)
                self.trace.emit(self.runtime.now(), "engine.posted", object_id=document.external_id,
                                ref_id=document.source_id, code=document.doc_type, value=float(work.attempts))
            elif work.attempts < ATTEMPTS_MAX:
                self.trace.emit(self.runtime.now(), "engine.retry", object_id=document.external_id, code=code,
                                value=RETRY_PAUSE_S)
                self.waiting += 1
                self.runtime.call_later(RETRY_PAUSE_S, self._retry, work, generation)

    def _retry(self, work: Work, generation: int) -> None:
        if generation == self.generation:
            self.waiting -= 1
            self.queue.put(work)

    def idle(self) -> bool:
        return self.up and self.busy == 0 and self.waiting == 0 and len(self.queue) == 0

    def unfinished(self) -> list[Work]:
        return list(self.work.values())

    def crash(self) -> None:
        self.up = False
        self.generation += 1
        self.queue = self.runtime.queue()
        self.work = {}
        self.busy = self.waiting = 0

    def restart(self) -> None:
        self.up = True
        self.start()


def create(ports: EnginePorts) -> MinimalEngine:
    """The factory rehearse calls: ports in, engine out."""
    return MinimalEngine(ports)
