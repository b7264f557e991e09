"""``rehearse engine``: the orchestrated engine as a service of its own, on the wall clock, against
the URLs of an `EngineConfig`: its webhook endpoint (signatures checked), the ERP and billing over
HTTP, its Store in SQLite. What it does is traced; the trace is written as Parquet at the end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from rehearse.sim.asyncio_runtime import AsyncioRuntime
from rehearse.sim.engine_config import EngineConfig
from rehearse.sim.http_clients import HttpBillingClient, HttpErpClient, new_session
from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.seeds import stream
from rehearse.sim.serving import serving
from rehearse.sim.webhook_receiver import WEBHOOK_PATH, Receiver, create_receiver_app
from rehearse.sim.world import engine_settings
from rehearse.sync.orchestrated import OrchestratedEngine
from rehearse.sync.sqlite_store import SqliteStore


async def run_engine(config: EngineConfig, secret: str, *, trace: TraceRecorder, seed: int = 1,
                     on_ready: Callable[[str], None] | None = None, stop: asyncio.Event | None = None):
    """Run until `stop` is set or ``run.duration_s`` passes; returns the engine."""
    runtime = AsyncioRuntime(time.time())  # the wall clock: this is the live world
    store = SqliteStore(Path(config.store.path))
    session = new_session()
    engine = OrchestratedEngine(
        runtime=runtime, store=store, trace=trace, random=stream(seed, "engine"),
        settings=engine_settings(SimpleNamespace(engine=config.engine)),
        erp=HttpErpClient(config.erp.url, runtime=runtime, session=session, trace=trace),
        billing=HttpBillingClient(billing_url=config.billing.url, payments_url=config.payments.url,
                                  runtime=runtime, session=session, trace=trace))
    receiver = Receiver(secret=secret, receive=engine.receive)
    try:
        async with serving(create_receiver_app(receiver), host=config.webhooks.host,
                           port=config.webhooks.port) as url:
            if store.unfinished():
                engine.restart()  # a previous run left postings queued or in flight: take them up
            else:
                engine.start()
            if on_ready:
                on_ready(url + WEBHOOK_PATH)
            waiter = asyncio.ensure_future((stop or asyncio.Event()).wait())
            await asyncio.wait([waiter], timeout=config.run.duration_s)
            waiter.cancel()
    finally:
        await runtime.shutdown()
        await session.close()
        engine.store.close()
    engine.receiver = receiver
    return engine
