"""The SQL Stores (SQLite, PostgreSQL) keep one contract: every change is written through, a
reopened store has what was committed, a crash loses only what was not. The same tests run against
both; the PostgreSQL ones need a server (see `postgres_url` in tests/conftest.py) and skip without."""

from __future__ import annotations

import uuid

import pytest

from rehearse.sync.model import ErpDocument, InvoiceLine, JournalLine
from rehearse.sync.postgres_store import PostgresStore
from rehearse.sync.sqlite_store import SqliteStore, document_from_json, document_to_json
from rehearse.sync.store import EXCEPTION, HELD, POSTED, QUEUED, ExceptionRecord, Posting

DOCUMENT = ErpDocument(
    "payment", "ch_1", "ch_1", "in_1", "US01", "USD", 1250, 0, 1_770_000_000.0, "2026-02",
    (InvoiceLine("growth (month)", "subscription", 1000, 250, 1.0, 2.0),),
    (JournalLine("1190 Undeposited Funds", 1250, 0), JournalLine("1100 Accounts Receivable", 0, 1250)),
)


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request, tmp_path):
    """`open_store(**options)`: a new empty store of the parametrized kind, or the same one reopened
    by a second process when called again (same file, same PostgreSQL schema)."""
    opened = []
    if request.param == "sqlite":
        path = tmp_path / "s.sqlite3"

        def open_sqlite(**options):
            opened.append(SqliteStore.open(path, **options))
            return opened[-1]

        yield open_sqlite
    else:
        url = request.getfixturevalue("postgres_url")
        schema = f"test_{uuid.uuid4().hex[:12]}"

        def open_postgres(**options):
            opened.append(PostgresStore.open(url, schema=schema, **options))
            return opened[-1]

        yield open_postgres
        PostgresStore(url, schema=schema).drop()
    for store in opened:
        store.connection.close()


def test_documents_survive_the_json_round_trip():
    assert document_from_json(document_to_json(DOCUMENT)) == DOCUMENT
    assert document_from_json(document_to_json(None)) is None


def test_a_reopened_store_has_everything_that_was_written(open_store):
    store = open_store()
    assert store.mark_seen("evt_1") and not store.mark_seen("evt_1")
    store.set_rank("in_1", 1)
    store.set_rank("in_1", 3)
    held = Posting("ch_1", DOCUMENT, HELD, 5.0)
    store.postings["ch_1"] = held
    store.save(held)
    posted = Posting("in_1", None, POSTED, 4.0)
    posted.attempts, posted.internal_id, posted.late = 2, "1007", True
    store.postings["in_1"] = posted
    store.save(posted)
    store.open_exception(ExceptionRecord("in_9", "permanent", "ar-operations", 9.0, "INVALID_FLD_VALUE"))
    store.open_exception(ExceptionRecord("in_9", "permanent", "ar-operations", 9.5, "INVALID_FLD_VALUE again"))
    store.open_exception(ExceptionRecord("in_8", "permanent", "ar-operations", 8.0, "gone"))
    assert store.close_exception("in_8").detail == "gone"
    again = store.reopen()
    assert again.seen_event_ids == {"evt_1"} and again.object_ranks == {"in_1": 3}
    assert list(again.postings) == ["ch_1", "in_1"]
    assert again.postings["ch_1"].document == DOCUMENT and again.postings["ch_1"].state == HELD
    assert (again.postings["in_1"].attempts, again.postings["in_1"].internal_id) == (2, "1007")
    assert again.postings["in_1"].late and not again.postings["ch_1"].late
    assert [p.key for p in again.waiting["in_1"]] == ["ch_1"]  # the hold index is rebuilt
    assert list(again.exceptions) == ["in_9"] and again.exceptions["in_9"].opened_s == 9.5
    assert again.is_posted("in_1") and not again.mark_seen("evt_1")
    again.close()


def test_a_reopened_store_has_the_bank_debits_noted_and_not_those_forgotten(open_store):
    store = open_store()
    store.note_bank_debit("in_1", "ch_1")
    store.note_bank_debit("in_1", "ch_1")  # noted once
    store.note_bank_debit("in_1", "ch_2")
    store.note_bank_debit("in_2", "ch_3")
    store.forget_bank_debit("in_2", "ch_3")
    assert store.bank_debits == {"in_1": ("ch_1", "ch_2")}
    again = store.reopen()
    assert again.bank_debits == {"in_1": ("ch_1", "ch_2")}
    again.close()


def test_postings_come_back_in_the_order_they_were_first_saved(open_store):
    store = open_store()
    keys = [f"in_{index}" for index in (3, 1, 2)]
    for key in keys:
        store.postings[key] = posting = Posting(key, DOCUMENT._replace(external_id=key), QUEUED, 1.0)
        store.save(posting)
    store.postings["in_3"].state = POSTED
    store.save(store.postings["in_3"])  # an update keeps its place
    store.close()
    again = open_store()  # a second process opens what the first closed
    assert list(again.postings) == keys and again.postings["in_3"].state == POSTED
    assert [p.key for p in again.unfinished()] == ["in_1", "in_2"]


def test_a_crash_loses_what_was_not_committed(open_store):
    store = open_store(commit_every=3, synchronous="OFF")
    for index in range(4):
        store.mark_seen(f"evt_{index}")  # commits after the third
    posting = Posting("in_1", DOCUMENT, QUEUED, 1.0)
    store.postings["in_1"] = posting
    store.save(posting)
    posting.state = EXCEPTION
    again = store.reopen()
    assert again.seen_event_ids == {"evt_0", "evt_1", "evt_2"} and again.postings == {}
    again.mark_seen("evt_3")  # the lost change can be made again after the restart
    again.close()  # a clean stop commits what is pending
    assert open_store().seen_event_ids == {"evt_0", "evt_1", "evt_2", "evt_3"}
