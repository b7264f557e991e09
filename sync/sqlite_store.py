"""A durable Store on SQLite: every change the engine reports is written through, so a process
that dies and reopens the file finds what it had.

The tables, statements and write-through logic are `rehearse.sync.sql_store`'s;
`SqliteStore.open(path)` reads them all back. `synchronous` is SQLite's: "FULL" survives power
loss, "OFF" survives a process crash only, which is what the simulation's crashes model.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from rehearse.sync.sql_store import SCHEMA_TEMPLATE, SqlStore, document_from_json, document_to_json
from rehearse.sync.store_url import StoreUnavailable

__all__ = ["SCHEMA", "SqliteStore", "document_from_json", "document_to_json"]

SCHEMA = SCHEMA_TEMPLATE.format(seq_column="seq INTEGER PRIMARY KEY AUTOINCREMENT")


class SqliteStore(SqlStore):
    """`MemoryStore` written through to a SQLite file."""

    __slots__ = ("path", "synchronous")

    def __init__(self, path: Path | str, commit_every: int = 1, synchronous: str = "FULL") -> None:
        if synchronous not in ("OFF", "NORMAL", "FULL"):
            raise ValueError(f"synchronous must be OFF, NORMAL or FULL, got {synchronous!r}")
        connection = sqlite3.connect(path)
        connection.execute("PRAGMA journal_mode = WAL")  # a commit appends to the log: cheaper per commit
        connection.execute(f"PRAGMA synchronous = {synchronous}")
        connection.executescript(SCHEMA)
        super().__init__(connection, commit_every)
        self.path = Path(path)
        self.synchronous = synchronous

    @classmethod
    def open(cls, path: Path | str, commit_every: int = 1, synchronous: str = "FULL") -> SqliteStore:
        """Open (or create) a store file and load everything it holds. Raises `StoreUnavailable`
        when SQLite cannot (a folder, a file that is not a database, one another process locks)."""
        try:
            store = cls(path, commit_every, synchronous)
            store.load()
        except sqlite3.Error as error:
            raise StoreUnavailable(f"cannot open the SQLite store {path}: {error}") from None
        return store

    def reopen(self) -> SqliteStore:
        """What a restarted process finds: the file as last committed, read back (whatever was
        not committed when the process died is gone)."""
        self._abandon()
        return SqliteStore.open(self.path, self.commit_every, self.synchronous)
