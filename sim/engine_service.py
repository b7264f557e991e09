"""``rehearse engine``: the orchestrated engine as a service of its own, on the wall clock, against
the URLs of an `EngineConfig`: its webhook endpoint (signatures checked), the ERP and billing over
HTTP, its Store in SQLite (or PostgreSQL when ``store.url`` is given). What it does is traced; the
trace is written as Parquet at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import aiohttp

from rehearse.sim.asyncio_runtime import AsyncioRuntime
from rehearse.sim.engine_config import EngineConfig, StoreSection
from rehearse.sim.group_commit import CHANGES_MAX, GroupCommit
from rehearse.sim.http_clients import HttpBillingClient, HttpErpClient, new_erp_client, new_session
from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.seeds import stream
from rehearse.sim.serving import serving
from rehearse.sim.webhook_receiver import WEBHOOK_PATH, Receiver, create_receiver_app
from rehearse.sync import rules
from rehearse.sync.errors import ErpError, ErpFailure
from rehearse.sync.orchestrated import OrchestratedEngine, settings_from
from rehearse.sync.ports import BillingClient
from rehearse.sync.sql_store import SqlStore
from rehearse.sync.sqlite_store import SqliteStore


INITIAL_LOAD_RETRIES_MAX = 10


class EndpointUnavailable(Exception):
    """An endpoint of the config could not be used before the engine started; `key` names it in
    the file (``billing.url``, ``erp.url``)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class ServiceEngine(OrchestratedEngine):
    """The orchestrated engine as `run_engine` runs it, with what the service reports besides."""

    initially_loaded: int  # existing customers the initial load found in the ERP
    receiver: Receiver  # the webhook endpoint (what it accepted and refused), set when the run ends


async def _lookup(engine: OrchestratedEngine, external_id: str) -> str | None:
    """A lookup that waits out throttling and maintenance as the engine's own retries do."""
    for _ in range(INITIAL_LOAD_RETRIES_MAX):
        try:
            return await engine.erp.lookup("customer", external_id)
        except ErpError as error:
            if error.status not in (429, 503):
                raise
            await engine.runtime.sleep(error.retry_after_s or 1.0)
    return await engine.erp.lookup("customer", external_id)


async def initial_load(engine: OrchestratedEngine, created_before_s: float) -> int:
    """A cutover's id map: every billing customer created before the engine started that the ERP
    already holds (looked up by external id) is recorded as posted, so invoices of the existing book
    do not wait for a customer.created event that will never come. Returns how many were found;
    raises `EndpointUnavailable` naming billing or the ERP when either cannot be used."""
    store = engine.store
    billing = cast(BillingClient, engine.billing)  # an engine of a cutover reads billing (see `run_engine`)
    try:
        customers = await billing.list_customers(0.0)
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ErpFailure) as error:
        raise EndpointUnavailable("billing.url", f"cannot list billing's customers: {_reason(error)}") from None
    except (KeyError, TypeError, ValueError) as error:  # an answer in another shape than billing's API
        raise EndpointUnavailable("billing.url", f"listing billing's customers answered something else than the "
                                                 f"billing API ({type(error).__name__}: {error})") from None
    documents = [document for customer in customers
                 if customer.created_s < created_before_s
                 and (document := rules.customer_document(customer)).external_id not in store.postings]
    found = 0
    concurrency = engine.settings.concurrency  # the engine's ERP budget, inside the account's cap
    for start in range(0, len(documents), concurrency):
        batch = documents[start:start + concurrency]
        try:
            ids = await asyncio.gather(*(_lookup(engine, document.external_id) for document in batch))
        except ErpFailure as error:
            raise EndpointUnavailable("erp.url", f"cannot look up billing's customers in the ERP: {error}") from None
        for document, internal_id in zip(batch, ids):
            if internal_id is not None:
                store.mark_posted_before(document, internal_id)
                found += 1
    return found


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__  # a timeout says nothing of itself


def open_store(section: StoreSection, commit_every: int = 1) -> SqlStore:
    """The engine's durable Store as configured, with everything a previous run left in it: PostgreSQL
    when the section has a URL (raises `StoreUnavailable` when the server cannot be reached), else the
    SQLite file."""
    if section.url is not None:
        from rehearse.sync.postgres_store import PostgresStore  # the driver only when it is used

        return PostgresStore.open(section.url, commit_every, synchronous=section.synchronous,
                                  schema=section.schema_name)
    return SqliteStore.open(Path(section.path), commit_every, synchronous=section.synchronous)


async def run_engine(config: EngineConfig, secret: str, *, trace: TraceRecorder, seed: int = 1,
                     on_ready: Callable[[str], None] | None = None, stop: asyncio.Event | None = None):
    """Run until `stop` is set or ``run.duration_s`` passes; returns the engine."""
    runtime = AsyncioRuntime(time.time())  # the wall clock: this is the live world
    store = open_store(config.store, commit_every=CHANGES_MAX)  # group commit: the endpoint waits for it
    session = new_session()
    erp_client = new_erp_client()
    engine = ServiceEngine(
        runtime=runtime, store=store, trace=trace, random=stream(seed, "engine"),
        settings=settings_from(config.engine.model_dump(mode="python")),
        erp=HttpErpClient(config.erp.url, runtime=runtime, client=erp_client, trace=trace),
        billing=HttpBillingClient(billing_url=config.billing.url, payments_url=config.payments.url,
                                  runtime=runtime, session=session, trace=trace))
    committer = GroupCommit(engine)  # a delivery is acknowledged once the change recording it is committed
    receiver = Receiver(secret=secret, receive=engine.receive, flushed=committer.flushed)
    engine.initially_loaded = 0
    committing = asyncio.ensure_future(committer.run())
    try:
        if config.run.initial_load:  # before the endpoint opens, so no invoice waits on a known customer
            engine.initially_loaded = await initial_load(engine, runtime.now())
            store.commit()  # the id map is committed before anything can reopen the Store
        # Before the endpoint opens: a restart reopens the Store, which would roll back (and refuse)
        # deliveries taken meanwhile and not yet committed.
        if store.unfinished():
            engine.restart()  # a previous run left postings queued or in flight: take them up
        else:
            engine.start()
        async with serving(create_receiver_app(receiver), host=config.webhooks.host,
                           port=config.webhooks.port) as url:
            if on_ready:
                on_ready(url + WEBHOOK_PATH)
            waiter = asyncio.ensure_future((stop or asyncio.Event()).wait())
            await asyncio.wait([waiter], timeout=config.run.duration_s)
            waiter.cancel()
    finally:
        committing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await committing
        await runtime.shutdown()
        await session.close()
        await erp_client.close()
        engine.store.close()
    engine.receiver = receiver
    return engine
