"""A durable Store on SQLite: every change the engine reports is written through, so a process
that dies and reopens the file finds what it had.

It keeps the same dicts as `MemoryStore` (the engine reads them) and writes each change to one of
four tables: seen event ids, state ranks, postings (document as JSON) and open exceptions.
`SqliteStore.open(path)` reads them all back; the held postings' `waiting` index is rebuilt from
the postings. Writes are committed every `commit_every` changes and on `close`; a process that dies loses what
was not committed yet (1 = commit every change before the engine acknowledges anything: the safe
default). For group commit the owner calls `commit` itself: changes gather in one open
transaction until then (the live adapter, ``rehearse.sim.group_commit``, commits on the next turn of
its event loop and before it acknowledges a webhook, with a large `commit_every` as a cap;
`commit_every=0` leaves every commit to the owner). `synchronous` is SQLite's: "FULL" survives power
loss, "OFF" survives a process crash only, which is what the simulation's crashes model. The file
is in WAL mode: a commit appends to the log instead of rewriting a rollback journal.

A posting's document is written when it is planned or changes (a reroute); the saves that only
move its state (queued, in flight, posted) update the state columns and leave the document alone.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from rehearse.sync.model import ErpDocument, InvoiceLine, JournalLine
from rehearse.sync.store import HELD, ExceptionRecord, MemoryStore, Posting

SCHEMA = """
CREATE TABLE IF NOT EXISTS seen_events (event_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS object_ranks (object_id TEXT PRIMARY KEY, rank INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS postings (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT UNIQUE NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, internal_id TEXT NOT NULL,
    queued_s REAL NOT NULL, late INTEGER NOT NULL, document TEXT
);
CREATE TABLE IF NOT EXISTS exceptions (
    external_id TEXT PRIMARY KEY, reason TEXT NOT NULL, owner TEXT NOT NULL, opened_s REAL NOT NULL,
    detail TEXT NOT NULL
);
"""


_encode = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":")).encode


def document_to_json(document: ErpDocument | None) -> str | None:
    """An ERP document as JSON (None stays None): a positional array in `ErpDocument`'s field
    order, its lines and journal lines arrays too (half the cost of named fields)."""
    if document is None:
        return None
    return _encode(document)


def document_from_json(text: str | None) -> ErpDocument | None:
    """The ERP document `document_to_json` wrote (or the named-field object older files hold)."""
    if text is None:
        return None
    fields = json.loads(text)
    if isinstance(fields, dict):
        fields["lines"] = tuple(InvoiceLine(**line) for line in fields["lines"])
        fields["journal"] = tuple(JournalLine(**line) for line in fields["journal"])
        return ErpDocument(**fields)
    lines_at, journal_at = ErpDocument._fields.index("lines"), ErpDocument._fields.index("journal")
    fields[lines_at] = tuple(InvoiceLine(*line) for line in fields[lines_at])
    fields[journal_at] = tuple(JournalLine(*line) for line in fields[journal_at])
    return ErpDocument(*fields)


class SqliteStore(MemoryStore):
    """`MemoryStore` written through to a SQLite file."""

    __slots__ = ("path", "connection", "commit_every", "synchronous", "pending", "commits", "_written")

    def __init__(self, path: Path | str, commit_every: int = 1, synchronous: str = "FULL") -> None:
        super().__init__()
        if synchronous not in ("OFF", "NORMAL", "FULL"):
            raise ValueError(f"synchronous must be OFF, NORMAL or FULL, got {synchronous!r}")
        if commit_every < 0:
            raise ValueError(f"commit_every must be 0 (group commit) or more, got {commit_every}")
        self.path = Path(path)
        self.connection = sqlite3.connect(self.path)
        self.connection.execute("PRAGMA journal_mode = WAL")
        self.connection.execute(f"PRAGMA synchronous = {synchronous}")
        self.connection.executescript(SCHEMA)
        self.commit_every = commit_every
        self.synchronous = synchronous
        self.pending = 0  # changes written but not committed yet
        self.commits = 0
        self._written: dict[str, ErpDocument] = {}  # key -> the document object its row holds

    @classmethod
    def open(cls, path: Path | str, commit_every: int = 1, synchronous: str = "FULL") -> SqliteStore:
        """Open (or create) a store file and load everything it holds."""
        store = cls(path, commit_every, synchronous)
        rows = store.connection.execute
        store.seen_event_ids.update(event_id for (event_id,) in rows("SELECT event_id FROM seen_events"))
        store.object_ranks.update(rows("SELECT object_id, rank FROM object_ranks ORDER BY object_id"))
        for key, state, attempts, internal_id, queued_s, late, document in rows(
                "SELECT key, state, attempts, internal_id, queued_s, late, document FROM postings ORDER BY seq"):
            posting = Posting(key, document_from_json(document), state, queued_s)
            posting.attempts, posting.internal_id, posting.late = attempts, internal_id, bool(late)
            store.postings[key] = posting
            if posting.document is not None:
                store._written[key] = posting.document
            if state == HELD and posting.document is not None:
                store.waiting.setdefault(posting.document.parent_id, []).append(posting)
        for external_id, reason, owner, opened_s, detail in rows(
                "SELECT external_id, reason, owner, opened_s, detail FROM exceptions ORDER BY opened_s, external_id"):
            store.exceptions[external_id] = ExceptionRecord(external_id, reason, owner, opened_s, detail)
        return store

    def _changed(self) -> None:
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
        self.connection.execute("INSERT OR IGNORE INTO seen_events VALUES (?)", (event_id,))
        self._changed()
        return True

    def set_rank(self, object_id: str, rank: int) -> None:
        """The latest state rank known for a source object."""
        super().set_rank(object_id, rank)
        self.connection.execute(
            "INSERT INTO object_ranks VALUES (?, ?) ON CONFLICT(object_id) DO UPDATE SET rank = excluded.rank",
            (object_id, rank))
        self._changed()

    def save(self, posting: Posting) -> None:
        """Write a posting's current state (its document only when that is new to the row)."""
        document = posting.document
        written = self._written
        key = posting.key
        if document is not None and written.get(key) is document:
            self.connection.execute(
                "UPDATE postings SET state = ?, attempts = ?, internal_id = ?, late = ? WHERE key = ?",
                (posting.state, posting.attempts, posting.internal_id, int(posting.late), key))
        else:
            self.connection.execute(
                "INSERT INTO postings (key, state, attempts, internal_id, queued_s, late, document) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET state = excluded.state, "
                "attempts = excluded.attempts, internal_id = excluded.internal_id, late = excluded.late, "
                "document = excluded.document",
                (key, posting.state, posting.attempts, posting.internal_id, posting.queued_s,
                 int(posting.late), document_to_json(document)))
            if document is None:
                written.pop(key, None)
            else:
                written[key] = document
        self._changed()

    def open_exception(self, record: ExceptionRecord) -> None:
        """Park a posting in the exception queue."""
        super().open_exception(record)
        self.connection.execute(
            "INSERT OR REPLACE INTO exceptions VALUES (?, ?, ?, ?, ?)",
            (record.external_id, record.reason, record.owner, record.opened_s, record.detail))
        self._changed()

    def close_exception(self, external_id: str) -> ExceptionRecord | None:
        """Take a posting out of the exception queue."""
        record = super().close_exception(external_id)
        self.connection.execute("DELETE FROM exceptions WHERE external_id = ?", (external_id,))
        self._changed()
        return record

    def reopen(self) -> SqliteStore:
        """What a restarted process finds: the file as last committed, read back (whatever was
        not committed when the process died is gone)."""
        self.connection.rollback()
        self.connection.close()
        return SqliteStore.open(self.path, self.commit_every, self.synchronous)

    def close(self) -> None:
        """Commit and close the file."""
        self.commit()
        self.connection.close()
