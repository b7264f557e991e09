"""What the SQL Stores share: the schema, the statements, the JSON codec of documents and the
write-through logic. `SqliteStore` and `PostgresStore` differ only in how they connect, the
placeholder of their driver and the type of the insertion-order column.

A store keeps the same dicts as `MemoryStore` (the engine reads them) and writes each change to one
of four tables: seen event ids, state ranks, postings (document as JSON) and open exceptions.
Writes are committed every `commit_every` changes and on `close`; a process that dies loses what was
not committed yet (1 = commit every change before the engine acknowledges anything: the safe
default). Dead letters are not written down: the operator replays them within a run.

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
"""

STATEMENTS = {
    "mark_seen": "INSERT INTO seen_events VALUES (?) ON CONFLICT (event_id) DO NOTHING",
    "set_rank": "INSERT INTO object_ranks VALUES (?, ?) ON CONFLICT (object_id) DO UPDATE SET rank = excluded.rank",
    "save": ("INSERT INTO postings (key, state, attempts, internal_id, queued_s, late, document) "
             "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET state = excluded.state, "
             "attempts = excluded.attempts, internal_id = excluded.internal_id, late = excluded.late, "
             "document = excluded.document"),
    "open_exception": ("INSERT INTO exceptions VALUES (?, ?, ?, ?, ?) ON CONFLICT (external_id) DO UPDATE SET "
                       "reason = excluded.reason, owner = excluded.owner, opened_s = excluded.opened_s, "
                       "detail = excluded.detail"),
    "close_exception": "DELETE FROM exceptions WHERE external_id = ?",
    "load_seen": "SELECT event_id FROM seen_events",
    "load_ranks": "SELECT object_id, rank FROM object_ranks ORDER BY object_id",
    "load_postings": "SELECT key, state, attempts, internal_id, queued_s, late, document FROM postings ORDER BY seq",
    "load_exceptions": ("SELECT external_id, reason, owner, opened_s, detail FROM exceptions "
                        "ORDER BY opened_s, external_id"),
}


def statements_for(placeholder: str) -> dict[str, str]:
    """`STATEMENTS` with a driver's placeholder in place of ``?`` (none of them holds a literal ``?``)."""
    return {name: text.replace("?", placeholder) for name, text in STATEMENTS.items()}


def document_to_json(document: ErpDocument | None) -> str | None:
    """An ERP document as JSON (None stays None)."""
    if document is None:
        return None
    fields = document._asdict()
    fields["lines"] = [line._asdict() for line in document.lines]
    fields["journal"] = [line._asdict() for line in document.journal]
    return json.dumps(fields, sort_keys=True)


def document_from_json(text: str | None) -> ErpDocument | None:
    """The ERP document `document_to_json` wrote."""
    if text is None:
        return None
    fields = json.loads(text)
    fields["lines"] = tuple(InvoiceLine(**line) for line in fields["lines"])
    fields["journal"] = tuple(JournalLine(**line) for line in fields["journal"])
    return ErpDocument(**fields)


class SqlStore(MemoryStore):
    """`MemoryStore` written through to a DB-API connection (`connection.execute` returns rows).
    Subclasses set `STATEMENTS` for their placeholder and implement `reopen`."""

    __slots__ = ("connection", "commit_every", "_pending")
    STATEMENTS = STATEMENTS

    def __init__(self, connection, commit_every: int = 1) -> None:
        super().__init__()
        self.connection = connection
        self.commit_every = commit_every
        self._pending = 0

    def load(self) -> None:
        """Fill the dicts from the tables; the held postings' `waiting` index is rebuilt."""
        rows, statements = self.connection.execute, self.STATEMENTS
        self.seen_event_ids.update(event_id for (event_id,) in rows(statements["load_seen"]))
        self.object_ranks.update(rows(statements["load_ranks"]))
        for key, state, attempts, internal_id, queued_s, late, document in rows(statements["load_postings"]):
            posting = Posting(key, document_from_json(document), state, queued_s)
            posting.attempts, posting.internal_id, posting.late = attempts, internal_id, bool(late)
            self.postings[key] = posting
            if state == HELD and posting.document is not None:
                self.waiting.setdefault(posting.document.parent_id, []).append(posting)
        for external_id, reason, owner, opened_s, detail in rows(statements["load_exceptions"]):
            self.exceptions[external_id] = ExceptionRecord(external_id, reason, owner, opened_s, detail)

    def _write(self, statement: str, parameters: tuple) -> None:
        self.connection.execute(self.STATEMENTS[statement], parameters)
        self._pending += 1
        if self._pending >= self.commit_every:
            self.connection.commit()
            self._pending = 0

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
        """Write a posting's current state."""
        self._write("save", (posting.key, posting.state, posting.attempts, posting.internal_id, posting.queued_s,
                             int(posting.late), document_to_json(posting.document)))

    def open_exception(self, record: ExceptionRecord) -> None:
        """Park a posting in the exception queue."""
        super().open_exception(record)
        self._write("open_exception",
                    (record.external_id, record.reason, record.owner, record.opened_s, record.detail))

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
        self.connection.commit()
        self.connection.close()
