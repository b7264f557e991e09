"""``rehearse serve``: a scenario's fakes on uvicorn (loopback by default), one port per system from
`port_base` (crm, billing, payments, tax, erp, then the admin API), with the scenario's call and
delivery faults, the admin API to change them at run time, webhooks signed and delivered to the
given URLs, and a traffic driver: the scenario's traffic (its existing book, renewals at their
anchors, new deals, plan changes, cancellations) generated in real time on a clock `speedup`
times faster than the wall (60: a peak hour in a minute).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable
from typing import Any, cast

from rehearse.sim.admin import FaultAdmin, create_admin_app
from rehearse.sim.asyncio_runtime import AsyncioRuntime
from rehearse.sim.http_webhooks import HttpWebhookSender, WebhookEndpoint
from rehearse.sim.live import RuntimeClock
from rehearse.sim.scenario import Scenario
from rehearse.sim.served import SYSTEMS, webhook_sender, world_apps
from rehearse.sim.serving import LOOPBACK, serving
from rehearse.sim.world import World
from rehearse.sync.model import parse_utc

ADMIN = "admin"


class _NullTrace:
    def emit(self, t_s: float, kind: str, **fields: Any) -> None:
        return None


class Served:
    """What is running: URLs by system, the admin state, the sender, the world."""

    def __init__(self, urls: dict[str, str], admin: FaultAdmin, sender: HttpWebhookSender, world: World) -> None:
        self.urls = urls
        self.admin = admin
        self.sender = sender
        self.world = world
        self.traffic_started = False

    def start_traffic(self) -> None:
        """Load the scenario's existing book and drive its traffic from now on (once)."""
        if self.traffic_started:
            return
        self.traffic_started = True
        world = self.world
        world.load_book()
        settle_heap()
        # Loading the book took wall time that is not scenario time (`serve` runs the world on asyncio).
        cast(AsyncioRuntime, world.runtime).reset_clock()
        world.traffic.start()
        for close in world.scenario.erp.period_closes:
            world.schedule(max(0.0, parse_utc(close.at) - world.runtime.now()), world.erp.close_period,
                           close.entity, close.period)


def settle_heap() -> None:
    """After loading the book: collect once, then keep what survives out of the cyclic collector's
    way (`gc.freeze`). The book lives as long as the process; left in the collector's generations,
    every full collection during the peak would traverse it again."""
    gc.collect()
    gc.freeze()


@contextlib.asynccontextmanager
async def serve(scenario: Scenario, seed: int, *, systems: tuple[str, ...] = SYSTEMS, host: str = LOOPBACK,
                port_base: int = 0, speedup: float = 1.0, traffic: bool = True, webhook_urls: tuple[str, ...] = (),
                webhook_secret: str = "", trace=None):
    """Serve while the block runs; yields `Served`. `port_base` 0 picks free ports."""
    runtime = AsyncioRuntime(scenario.run.start_s, speedup)
    trace = trace if trace is not None else _NullTrace()  # an empty recorder is falsy: keep it
    world = World(scenario, seed, runtime, trace)
    clock = RuntimeClock(runtime)
    apps, call_faults = world_apps(world, seed, clock=clock, trace=trace)
    sender = webhook_sender(world, seed, endpoints=[WebhookEndpoint(url, webhook_secret) for url in webhook_urls],
                            clock=clock, trace=trace)

    def apply(plan) -> None:  # the admin API's changes reach every reader of the plan
        world.faults = call_faults.plan = sender.faults = plan

    admin = FaultAdmin(list(scenario.faults), apply)
    try:
        async with contextlib.AsyncExitStack() as stack:
            urls: dict[str, str] = {}
            for index, system in enumerate(SYSTEMS):
                if system in systems:
                    port = port_base + index if port_base else 0
                    urls[system] = await stack.enter_async_context(serving(apps[system], host=host, port=port))
            admin_port = port_base + len(SYSTEMS) if port_base else 0
            urls[ADMIN] = await stack.enter_async_context(serving(create_admin_app(admin), host=host, port=admin_port))
            stack.push_async_callback(sender.aclose)
            served = Served(urls, admin, sender, world)
            if traffic:
                served.start_traffic()
            yield served
    finally:
        await runtime.shutdown()
        world.close()


async def serve_until(scenario: Scenario, seed: int, *, duration_s: float | None,
                      on_ready: Callable[[Served], None], **options: Any) -> None:
    """Serve for `duration_s` wall seconds (None: until cancelled)."""
    async with serve(scenario, seed, **options) as served:
        on_ready(served)
        if duration_s is None:
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(duration_s)
