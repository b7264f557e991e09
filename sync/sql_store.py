"""What the SQL Stores share: the schema, the statements, the JSON codec of documents and the
write-through logic. `SqliteStore` and `PostgresStore` differ only in how they connect, the
placeholder of their driver and the type of the insertion-order column.

A store keeps the same dicts as `MemoryStore` (the engine reads them) and writes each change to one
of five tables: seen event ids, state ranks, postings (document as JSON), open exceptions and the
bank debits planned per invoice.
Writes are committed every `commit_every` changes and on `close`; a process that dies loses what was
not committed yet (1 = commit every change before the engine acknowledges anything: the safe
default). For group commit the owner calls `commit` itself: changes gather in one open transaction
until then (the live adapter, ``rehearse.sim.group_commit``, commits on the next turn of its event
loop and before it acknowledges a webhook, with a large `commit_every` as a cap; `commit_every=0`
leaves every commit to the owner). Dead letters are not written down: the operator replays them
within a run.

A posting's document is written when it is planned or changes (a reroute); the saves that only
move its state (queued, in flight, posted) update the state columns and leave the document alone.

The statements are written once, in the SQL both databases accept (``ON CONFLICT ... DO UPDATE``
with ``excluded``, which SQLite has since 3.24), with ``?`` placeholders; a driver whose placeholder
is ``%s`` gets them rewritten by `statements_for`.
"""

from __future__ import annotations

import json

from rehearse.sync.model import ErpDocument, InvoiceLine, JournalLine
from rehearse.sync.store import HELD, ExceptionRecord, MemoryStore, Posting

# `{seq_column}`: a column that numbers postings in insertion order, in the database's own words.
SCHEMA_TEMPLATE = """
CREATE TABLE IF NOT EXISTS seen_events (event_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS object_ranks (object_id TEXT PRIMARY KEY, rank INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS postings (
    {seq_column},
    key TEXT UNIQUE NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, internal_id TEXT NOT NULL,
    queued_s DOUBLE PRECISION NOT NULL, late INTEGER NOT NULL, document TEXT
);
CREATE TABLE IF NOT EXISTS exceptions (
    external_id TEXT PRIMARY KEY, reason TEXT NOT NULL, owner TEXT NOT NULL, opened_s DOUBLE PRECISION NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bank_debits (charge_id TEXT PRIMARY KEY, invoice_id TEXT NOT NULL);
"""

STATEMENTS = {
    "mark_seen": "INSERT INTO seen_events VALUES (?) ON CONFLICT (event_id) DO NOTHING",
    "set_rank": "INSERT INTO object_ranks VALUES (?, ?) ON CONFLICT (object_id) DO UPDATE SET rank = excluded.rank",
    "save": ("INSERT INTO postings (key, state, attempts, internal_id, queued_s, late, document) "
             "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET state = excluded.state, "
             "attempts = excluded.attempts, internal_id = excluded.internal_id, late = excluded.late, "
             "document = excluded.document"),
    "save_state": "UPDATE postings SET state = ?, attempts = ?, internal_id = ?, late = ? WHERE key = ?",
    "open_exception": ("INSERT INTO exceptions VALUES (?, ?, ?, ?, ?) ON CONFLICT (external_id) DO UPDATE SET "
                       "reason = excluded.reason, owner = excluded.owner, opened_s = excluded.opened_s, "
                       "detail = excluded.detail"),
    "close_exception": "DELETE FROM exceptions WHERE external_id = ?",
    "note_bank_debit": "INSERT INTO bank_debits VALUES (?, ?) ON CONFLICT (charge_id) DO NOTHING",
    "forget_bank_debit": "DELETE FROM bank_debits WHERE charge_id = ?",
    "load_seen": "SELECT event_id FROM seen_events",
    "load_ranks": "SELECT object_id, rank FROM object_ranks ORDER BY object_id",
    "load_postings": "SELECT key, state, attempts, internal_id, queued_s, late, document FROM postings ORDER BY seq",
    "load_bank_debits": "SELECT invoice_id, charge_id FROM bank_debits ORDER BY invoice_id, charge_id",
    "load_exceptions": ("SELECT external_id, reason, owner, opened_s, detail FROM exceptions "
                        "ORDER BY opened_s, external_id"),
}


def statements_for(placeholder: str) -> dict[str, str]:
    """`STATEMENTS` with a driver's placeholder in place of ``?`` (none of them holds a literal ``?``)."""
    return {name: text.replace("?", placeholder) for name, text in STATEMENTS.items()}


_encode = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":")).encode


def document_to_json(document: ErpDocument | None) -> str | None:
    """An ERP document as JSON (None stays None): a positional array in `ErpDocument`'s field
    order, its lines and journal lines arrays too (half the cost of named fields)."""
    if document is None:
        return None
    return _encode(document)


_LINES_AT, _JOURNAL_AT = ErpDocument._fields.index("lines"), ErpDocument._fields.index("journal")


def document_from_json(text: str | None) -> ErpDocument | None:
    """The ERP document `document_to_json` wrote (or the named-field object older files hold)."""
    if text is None:
        return None
    fields = json.loads(text)
    if isinstance(fields, dict):
        fields["lines"] = tuple(InvoiceLine(**line) for line in fields["lines"])
        fields["journal"] = tuple(JournalLine(**line) for line in fields["journal"])
        return ErpDocument(**fields)
    fields[_LINES_AT] = tuple(InvoiceLine(*line) for line in fields[_LINES_AT])
    fields[_JOURNAL_AT] = tuple(JournalLine(*line) for line in fields[_JOURNAL_AT])
    return ErpDocument(*fields)


class SqlStore(MemoryStore):
    """`MemoryStore` written through to a DB-API connection (`connection.execute` returns rows).
    Subclasses set `STATEMENTS` for their placeholder and implement `reopen`."""

    __slots__ = ("connection", "commit_every", "pending", "commits", "_written")
    STATEMENTS = STATEMENTS

    def __init__(self, connection, commit_every: int = 1) -> None:
        if commit_every < 0:
            raise ValueError(f"commit_every must be 0 (group commit) or more, got {commit_every}")
        super().__init__()
        self.connection = connection
        self.commit_every = commit_every
        self.pending = 0  # changes written but not committed yet
        self.commits = 0
        self._written: dict[str, ErpDocument] = {}  # key -> the document object its row holds

    def load(self) -> None:
        """Fill the dicts from the tables; the held postings' `waiting` index is rebuilt."""
        rows, statements = self.connection.execute, self.STATEMENTS
        self.seen_event_ids.update(event_id for (event_id,) in rows(statements["load_seen"]))
        self.object_ranks.update(rows(statements["load_ranks"]))
        for key, state, attempts, internal_id, queued_s, late, document in rows(statements["load_postings"]):
            posting = Posting(key, document_from_json(document), state, queued_s)
            posting.attempts, posting.internal_id, posting.late = attempts, internal_id, bool(late)
            self.postings[key] = posting
            if posting.document is not None:
                self._written[key] = posting.document
            if state == HELD and posting.document is not None:
                self.waiting.setdefault(posting.document.parent_id, []).append(posting)
        for external_id, reason, owner, opened_s, detail in rows(statements["load_exceptions"]):
            self.exceptions[external_id] = ExceptionRecord(external_id, reason, owner, opened_s, detail)
        for invoice_id, charge_id in rows(statements["load_bank_debits"]):
            super().note_bank_debit(invoice_id, charge_id)

    def _write(self, statement: str, parameters: tuple) -> None:
        self.connection.execute(self.STATEMENTS[statement], parameters)
        self.pending += 1
        if self.pending >= self.commit_every > 0:
            self.commit()

    def commit(self) -> None:
        """Commit every change written so far (a no-op when there is none)."""
        if self.pending:
            self.connection.commit()
            self.pending = 0
            self.commits += 1

    def mark_seen(self, event_id: str) -> bool:
        """Remember an event id; False when it was seen before."""
        if not super().mark_seen(event_id):
            return False
        self._write("mark_seen", (event_id,))
        return True

    def set_rank(self, object_id: str, rank: int) -> None:
        """The latest state rank known for a source object."""
        super().set_rank(object_id, rank)
        self._write("set_rank", (object_id, rank))

    def save(self, posting: Posting) -> None:
        """Write a posting's current state (its document only when that is new to the row)."""
        document, key, written = posting.document, posting.key, self._written
        if document is not None and written.get(key) is document:
            self._write("save_state", (posting.state, posting.attempts, posting.internal_id, int(posting.late), key))
            return
        self._write("save", (key, posting.state, posting.attempts, posting.internal_id, posting.queued_s,
                             int(posting.late), document_to_json(document)))
        if document is None:
            written.pop(key, None)
        else:
            written[key] = document

    def open_exception(self, record: ExceptionRecord) -> None:
        """Park a posting in the exception queue."""
        super().open_exception(record)
        self._write("open_exception",
                    (record.external_id, record.reason, record.owner, record.opened_s, record.detail))

    def note_bank_debit(self, invoice_id: str, charge_id: str) -> None:
        """A bank debit was planned as a payment of `invoice_id`."""
        if charge_id not in self.bank_debits.get(invoice_id, ()):
            super().note_bank_debit(invoice_id, charge_id)
            self._write("note_bank_debit", (charge_id, invoice_id))

    def forget_bank_debit(self, invoice_id: str, charge_id: str) -> None:
        """Billing says this bank debit was not returned."""
        super().forget_bank_debit(invoice_id, charge_id)
        self._write("forget_bank_debit", (charge_id,))

    def close_exception(self, external_id: str) -> ExceptionRecord | None:
        """Take a posting out of the exception queue."""
        record = super().close_exception(external_id)
        self._write("close_exception", (external_id,))
        return record

    def _abandon(self) -> None:
        """What a dying process does: the uncommitted transaction is lost, the connection goes."""
        self.connection.rollback()
        self.connection.close()

    def close(self) -> None:
        """Commit and close the connection."""
        self.commit()
        self.connection.close()
