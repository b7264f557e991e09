"""A durable Store on PostgreSQL (psycopg 3, its synchronous API): the SQLite store's semantics on a
server, for an engine whose state must outlive its machine or be shared with other tools.

Same tables, statements and write-through logic as `SqliteStore` (`rehearse.sync.sql_store`), in
a PostgreSQL schema of their own (`schema`, "rehearse" by default; created when missing) so a
database can hold several stores. `PostgresStore.open(url)` reads everything back; `reopen` is
what a restarted process finds: what was committed. `synchronous` maps onto the session's
``synchronous_commit``: "FULL" waits for the server's WAL flush on every commit (survives a server
crash), "NORMAL" and "OFF" do not (survive a crash of the engine's process only, much faster).

Connection failures raise `StoreUnavailable`, whose message names the URL without its password.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from rehearse.sync.sql_store import SCHEMA_TEMPLATE, SqlStore, statements_for
from rehearse.sync.store_url import StoreUnavailable, redact, schema_problem, scrub, url_problem

__all__ = ["PostgresStore", "StoreUnavailable", "redact", "schema_problem", "url_problem"]

CONNECT_TIMEOUT_S = 10  # libpq's own default is to wait forever for an unreachable host
SCHEMA = SCHEMA_TEMPLATE.format(seq_column="seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY")


class PostgresStore(SqlStore):
    """`MemoryStore` written through to PostgreSQL tables."""

    __slots__ = ("url", "schema", "synchronous")
    STATEMENTS = statements_for("%s")

    def __init__(self, url: str, commit_every: int = 1, synchronous: str = "FULL", schema: str = "rehearse") -> None:
        if problem := url_problem(url):
            raise ValueError(f"store URL {redact(url)}: {problem}")
        if synchronous not in ("OFF", "NORMAL", "FULL"):
            raise ValueError(f"synchronous must be OFF, NORMAL or FULL, got {synchronous!r}")
        if problem := schema_problem(schema):
            raise ValueError(f"schema {schema!r}: {problem}")
        try:
            connection = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as error:
            raise StoreUnavailable(f"cannot connect to PostgreSQL at {redact(url)}: {scrub(str(error), url)}") from None
        try:
            connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            connection.execute("SET synchronous_commit TO " + ("on" if synchronous == "FULL" else "off"))
            connection.execute(SCHEMA)
            connection.commit()
        except psycopg.Error as error:
            connection.close()
            raise StoreUnavailable(f"cannot set up the store in schema {schema} at {redact(url)}: "
                                   f"{scrub(str(error), url)}") from None
        super().__init__(connection, commit_every)
        self.url = url
        self.schema = schema
        self.synchronous = synchronous

    @classmethod
    def open(cls, url: str, commit_every: int = 1, synchronous: str = "FULL",
             schema: str = "rehearse") -> PostgresStore:
        """Connect (creating the schema and tables when missing) and load everything the store holds."""
        store = cls(url, commit_every, synchronous, schema)
        store.load()
        store.connection.commit()  # end the reading transaction: no session sits idle in one
        return store

    def reopen(self) -> PostgresStore:
        """What a restarted process finds: the tables as last committed, read back over a new
        connection (whatever was not committed when the process died is rolled back)."""
        self._abandon()
        return PostgresStore.open(self.url, self.commit_every, self.synchronous, self.schema)

    def drop(self) -> None:
        """Delete the store's schema and everything in it, and close (a throwaway store's end)."""
        self.connection.rollback()
        self.connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))
        self.connection.commit()
        self.connection.close()
