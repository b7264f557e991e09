"""The engine's durable state: seen events, object state ranks, postings and their states,
dependency holds and the exception queue.

`MemoryStore` keeps it all in dicts; under simulation it stands for the durable store (what an
engine crash would keep). The same dicts written through to SQL are `rehearse.sync.sql_store`'s, on
SQLite (`sqlite_store`) and PostgreSQL (`postgres_store`).
"""

from __future__ import annotations

from typing import cast

from rehearse.sync.event_ids import EventIds
from rehearse.sync.model import ErpDocument, Event

# Posting states (DOMAIN.md section 8).
HELD = "held"  # waiting for a dependency
QUEUED = "queued"
IN_FLIGHT = "in_flight"
RETRY_WAIT = "retry_wait"
POSTED = "posted"
EXCEPTION = "exception"
SUPERSEDED = "superseded"  # a newer state of its source made it unneeded before it was posted


class Posting:
    """One ERP document's journey through the engine. Once posted, only its state, attempts and
    internal id are kept (`document` becomes None; the orchestrated engine keeps a write-off's)."""

    __slots__ = ("key", "document", "state", "attempts", "internal_id", "queued_s", "late")

    def __init__(self, key: str, document: ErpDocument | None, state: str, queued_s: float) -> None:
        self.key = key
        self.document = document
        self.state = state
        self.attempts = 0
        self.internal_id = ""
        self.queued_s = queued_s
        self.late = False


class ExceptionRecord:
    """A posting that a person must resolve: who owns it, why, since when."""

    __slots__ = ("external_id", "reason", "owner", "opened_s", "detail")

    def __init__(self, external_id: str, reason: str, owner: str, opened_s: float, detail: str) -> None:
        self.external_id = external_id
        self.reason = reason
        self.owner = owner
        self.opened_s = opened_s
        self.detail = detail


def park_exception(store, trace, posting: Posting, reason: str, owner: str, detail: str, now: float) -> None:
    """Park a posting in `store`'s exception queue, owned by `owner`, since `now`, and trace it
    (``engine.exception_opened``): what every pattern does with a posting a person must resolve."""
    posting.state = EXCEPTION
    store.save(posting)
    document = cast(ErpDocument, posting.document)  # parked before it was posted, so it has its document
    store.open_exception(ExceptionRecord(document.external_id, reason, owner, now, detail))
    trace.emit(now, "engine.exception_opened", object_id=document.external_id, ref_id=document.source_id,
               code=reason, detail=owner)


class MemoryStore:
    """All engine state in dicts. Iteration is in insertion order, which is deterministic.

    The engine reads the dicts directly and reports every change through the methods below
    (`mark_seen`, `set_rank`, `save`, `open_exception`, `close_exception`); here they only update
    the dicts, a durable store also writes them down (`rehearse.sync.sqlite_store`). `waiting` is
    derived state: the held postings, by the parent they wait for."""

    __slots__ = ("seen_event_ids", "object_ranks", "postings", "waiting", "exceptions", "dead_letters",
                 "bank_debits")

    def __init__(self) -> None:
        self.seen_event_ids = EventIds()  # membership only, never iterated
        self.object_ranks: dict[str, int] = {}
        self.postings: dict[str, Posting] = {}
        self.waiting: dict[str, list[Posting]] = {}  # parent external id -> held children
        self.exceptions: dict[str, ExceptionRecord] = {}
        self.dead_letters: dict[str, tuple[Event, str]] = {}  # event id -> (event, why it failed)
        # invoice id -> ids of the bank debits planned as its payments, which the bank may return
        self.bank_debits: dict[str, tuple[str, ...]] = {}

    def mark_posted_before(self, document: ErpDocument, internal_id: str) -> None:
        """Record a document posted before this engine run began (an existing book)."""
        posting = Posting(document.external_id, None, POSTED, document.tran_date_s)
        posting.internal_id = internal_id
        self.postings[document.external_id] = posting
        self.save(posting)

    def reopen(self) -> MemoryStore:
        """What a restarted engine finds. In the simulation these dicts stand for a durable store
        whose every change was committed, so it finds them all."""
        return self

    def fresh(self) -> MemoryStore:
        """An empty store that keeps nothing across a crash (the engine without a durable store)."""
        return MemoryStore()

    def mark_seen(self, event_id: str) -> bool:
        """Remember an event id; False when it was seen before."""
        return self.seen_event_ids.add_new(event_id)

    def release_held(self, parent_key: str) -> list[Posting] | None:
        """Take the postings held for `parent_key` out of `waiting` (None when there are none)."""
        children = self.waiting.pop(parent_key, None)
        if children is not None and not self.waiting:
            # An emptied dict keeps its table: after a peak's holds, 32 MB per million subscriptions.
            self.waiting = {}
        return children

    def set_rank(self, object_id: str, rank: int) -> None:
        """The latest state rank known for a source object."""
        self.object_ranks[object_id] = rank

    def save(self, posting: Posting) -> None:
        """A posting was planned or changed (its dict entry is the object itself)."""

    def note_bank_debit(self, invoice_id: str, charge_id: str) -> None:
        """A bank debit was planned as a payment of `invoice_id` (noted once)."""
        known = self.bank_debits.get(invoice_id, ())
        if charge_id not in known:
            self.bank_debits[invoice_id] = (*known, charge_id)

    def forget_bank_debit(self, invoice_id: str, charge_id: str) -> None:
        """Billing says this bank debit was not returned: nothing need wait for its reversal."""
        remaining = tuple(known for known in self.bank_debits.get(invoice_id, ()) if known != charge_id)
        if remaining:
            self.bank_debits[invoice_id] = remaining
        else:
            self.bank_debits.pop(invoice_id, None)

    def open_exception(self, record: ExceptionRecord) -> None:
        """Park a posting in the exception queue."""
        self.exceptions[record.external_id] = record

    def close(self) -> None:
        """Release what the store holds open (nothing, in memory)."""

    def close_exception(self, external_id: str) -> ExceptionRecord | None:
        """Take a posting out of the exception queue (resolved by a person)."""
        return self.exceptions.pop(external_id, None)

    def is_posted(self, external_id: str) -> bool:
        """Whether the document with this external id is known to be in the ERP."""
        posting = self.postings.get(external_id)
        return posting is not None and posting.state == POSTED

    def unfinished(self) -> list[Posting]:
        """Postings not yet posted, not parked as exceptions and not superseded: the in-flight set at
        a cut-off."""
        return [p for p in self.postings.values() if p.state not in (POSTED, EXCEPTION, SUPERSEDED)]
