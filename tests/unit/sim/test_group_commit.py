"""Group commit of the live engine's SQLite Store: deliveries share commits, and what the endpoint
acknowledged is committed, so a process whose state is dropped finds it in the file; what was not
committed when the engine died is refused (503), never acknowledged."""

from __future__ import annotations

import asyncio
import json
import time

from rehearse.sim.asyncio_runtime import AsyncioRuntime
from rehearse.sim.group_commit import CHANGES_MAX, GroupCommit
from rehearse.sync.wire import envelope
from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.seeds import stream
from rehearse.sim.webhook_receiver import WEBHOOK_PATH, Receiver, create_receiver_app
from rehearse.sync import signatures
from rehearse.sync.model import Address, Customer, Event
from rehearse.sync.orchestrated import OrchestratedEngine
from rehearse.sync.sqlite_store import SqliteStore
from rehearse.sync.store import QUEUED

SECRET = "whsec_group_commit_test"


def _customer_event(index: int) -> Event:
    customer = Customer(f"cus_{index}", "US01", "USD", f"Customer {index}", f"c{index}@example.com",
                        Address("1 Main", "Austin", "TX", "73301", "US"), 1769817600.0)
    return Event(f"evt_{index}", "customer.created", 1769817600.0, customer)


async def _deliver(app, event: Event) -> int:
    body = json.dumps(envelope(event)).encode()
    header = signatures.sign(body, SECRET, int(time.time()))
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app({"type": "http", "method": "POST", "path": WEBHOOK_PATH, "raw_path": WEBHOOK_PATH.encode(),
               "query_string": b"", "headers": [(signatures.HEADER.lower().encode(), header.encode())],
               "scheme": "http", "server": ("127.0.0.1", 80), "root_path": "", "http_version": "1.1"},
              receive, send)
    return sent[0]["status"]


class _SilentErp:
    """An ERP that never answers: postings stay in flight, nothing is posted."""

    async def post(self, document):
        await asyncio.Event().wait()


def _engine(path) -> tuple[OrchestratedEngine, GroupCommit, object]:
    """An engine on a group-commit Store behind its endpoint (call inside a running loop)."""
    engine = OrchestratedEngine(runtime=AsyncioRuntime(1769817600.0), erp=_SilentErp(), trace=TraceRecorder(),
                                random=stream(1, "engine"),
                                store=SqliteStore(path, commit_every=CHANGES_MAX, synchronous="OFF"))
    committer = GroupCommit(engine, ack_delay_s=0.05)
    app = create_receiver_app(Receiver(secret=SECRET, receive=engine.receive, flushed=committer.flushed))
    return engine, committer, app


def test_acknowledged_deliveries_share_commits_and_survive_a_dropped_process(tmp_path):
    path = tmp_path / "store.sqlite3"

    async def go() -> tuple[list[int], int]:
        engine, _, app = _engine(path)
        statuses = await asyncio.gather(*(_deliver(app, _customer_event(index)) for index in range(20)))
        return statuses, engine.store.commits

    statuses, commits = asyncio.run(go())
    assert statuses == [200] * 20
    assert commits < 20  # grouped: far fewer commits than deliveries
    # The process dies without closing anything; a new one opens the file.
    found = SqliteStore.open(path)
    assert {f"evt_{index}" for index in range(20)} <= found.seen_event_ids
    assert [found.postings[f"cus_{index}"].state for index in range(20)] == [QUEUED] * 20
    found.close()


def test_a_delivery_whose_change_died_uncommitted_is_not_acknowledged(tmp_path):
    path = tmp_path / "store.sqlite3"

    async def go() -> tuple[int, int]:
        engine, _, app = _engine(path)
        acknowledged = await _deliver(app, _customer_event(1))
        pending = asyncio.ensure_future(_deliver(app, _customer_event(2)))
        await asyncio.sleep(0.01)  # the engine took it; its commit is 40 ms away
        engine.crash()
        engine.restart()  # reopens the Store: the uncommitted change is rolled back
        return acknowledged, await pending

    assert asyncio.run(go()) == (200, 503)
    found = SqliteStore.open(path)
    assert "evt_1" in found.seen_event_ids and "evt_2" not in found.seen_event_ids
    assert "cus_1" in found.postings and "cus_2" not in found.postings
    found.close()


def test_the_bare_endpoint_answers_other_paths_and_methods_as_a_framework_would(tmp_path):
    from rehearse.fakes.asgi_client import call

    async def go():
        _, _, app = _engine(tmp_path / "store.sqlite3")
        return await call(app, "POST", "/elsewhere", json_body={}), await call(app, "GET", WEBHOOK_PATH)

    elsewhere, wrong_method = asyncio.run(go())
    assert elsewhere.status == 404
    assert wrong_method.status == 405 and wrong_method.headers["allow"] == "POST"
