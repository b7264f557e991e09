"""The SQLite store writes every change through and a reopened file has what was committed."""

from rehearse.sync.model import ErpDocument, InvoiceLine, JournalLine
from rehearse.sync.sqlite_store import SqliteStore, document_from_json, document_to_json
from rehearse.sync.store import EXCEPTION, HELD, POSTED, QUEUED, ExceptionRecord, Posting

DOCUMENT = ErpDocument(
    "payment", "ch_1", "ch_1", "in_1", "US01", "USD", 1250, 0, 1_770_000_000.0, "2026-02",
    (InvoiceLine("growth (month)", "subscription", 1000, 250, 1.0, 2.0),),
    (JournalLine("1190 Undeposited Funds", 1250, 0), JournalLine("1100 Accounts Receivable", 0, 1250)),
)


def test_documents_survive_the_json_round_trip():
    assert document_from_json(document_to_json(DOCUMENT)) == DOCUMENT
    assert document_from_json(document_to_json(None)) is None


def test_a_reopened_store_has_everything_that_was_written(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite3")
    assert store.mark_seen("evt_1") and not store.mark_seen("evt_1")
    store.set_rank("in_1", 1)
    store.set_rank("in_1", 3)
    held = Posting("ch_1", DOCUMENT, HELD, 5.0)
    store.postings["ch_1"] = held
    store.save(held)
    posted = Posting("in_1", None, POSTED, 4.0)
    posted.attempts, posted.internal_id = 2, "1007"
    store.postings["in_1"] = posted
    store.save(posted)
    store.open_exception(ExceptionRecord("in_9", "permanent", "ar-operations", 9.0, "INVALID_FLD_VALUE"))
    store.open_exception(ExceptionRecord("in_8", "permanent", "ar-operations", 8.0, "gone"))
    assert store.close_exception("in_8").detail == "gone"
    again = store.reopen()
    assert again.seen_event_ids == {"evt_1"} and again.object_ranks == {"in_1": 3}
    assert list(again.postings) == ["ch_1", "in_1"]
    assert again.postings["ch_1"].document == DOCUMENT and again.postings["ch_1"].state == HELD
    assert (again.postings["in_1"].attempts, again.postings["in_1"].internal_id) == (2, "1007")
    assert [p.key for p in again.waiting["in_1"]] == ["ch_1"]  # the hold index is rebuilt
    assert list(again.exceptions) == ["in_9"] and again.is_posted("in_1")
    again.close()


def test_a_crash_loses_what_was_not_committed(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite3", commit_every=3, synchronous="OFF")
    for index in range(4):
        store.mark_seen(f"evt_{index}")  # commits after the third
    posting = Posting("in_1", DOCUMENT, QUEUED, 1.0)
    store.postings["in_1"] = posting
    store.save(posting)
    posting.state = EXCEPTION
    again = store.reopen()
    assert again.seen_event_ids == {"evt_0", "evt_1", "evt_2"} and again.postings == {}
    again.close()
