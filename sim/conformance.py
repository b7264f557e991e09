"""Conformance across runtimes: the same engine, fed the same webhook deliveries, must leave the
ERP in the same state under the SimPy adapter (virtual time) and the asyncio adapter (real waits).

`record_deliveries` runs a scenario once and keeps every delivery the engine received, with its
time; `replay_simpy` and `replay_asyncio` feed that script to a fresh engine and ERP and return the
ERP's documents as a sorted, comparable list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import NamedTuple, cast

import simpy

from rehearse.fakes.erp import Erp
from rehearse.sim import wiring
from rehearse.sim.asyncio_runtime import AsyncioRuntime
from rehearse.sim.faults import FaultPlan
from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.scenario import Scenario
from rehearse.sim.seeds import stream
from rehearse.sim.simpy_runtime import SimPyRuntime
from rehearse.sim.world import World
from rehearse.sync import event, rules
from rehearse.sync.engine import EnginePorts
from rehearse.sync.event import EventEngine
from rehearse.sync.model import Charge, ErpDocument, Event, Invoice
from rehearse.sync.orchestrated import OrchestratedEngine, settings_from
from rehearse.sync.ports import BillingClient
from rehearse.sync.store import MemoryStore


class Delivery(NamedTuple):
    """One webhook delivery: when (seconds after the start) and what."""

    offset_s: float
    event: Event


class Script(NamedTuple):
    """What to replay: deliveries, and the customers that were in the ERP before the run."""

    start_s: float
    deliveries: tuple[Delivery, ...]
    preloaded: tuple  # ErpDocument of customers loaded before the run


def record_deliveries(scenario: Scenario, seed: int) -> Script:
    """Run the scenario in virtual time and keep every webhook delivery the engine received."""
    env = simpy.Environment(initial_time=scenario.run.start_s)
    world = World(scenario, seed, SimPyRuntime(env), TraceRecorder())
    deliveries: list[Delivery] = []
    receive = world.engine.receive

    def recording_receiver(event: Event) -> bool | Awaitable[bool]:
        deliveries.append(Delivery(env.now - scenario.run.start_s, event))
        return receive(event)

    world.webhooks.receiver = recording_receiver
    world.start()
    env.run(until=world.window_end_s)
    new_customers = set(world.traffic.new_customer_ids)
    preloaded = tuple(rules.customer_document(customer) for customer in world.billing.customers.values()
                      if customer.id not in new_customers)
    return Script(scenario.run.start_s, tuple(deliveries), preloaded)


def _fresh(scenario: Scenario, seed: int, runtime, script: Script, pattern: str = "orchestrated"):
    trace = TraceRecorder()
    erp = wiring.new_erp(scenario, trace)
    store = MemoryStore()
    for document in script.preloaded:
        store.mark_posted_before(document, erp.preload_customer(document))
    client = wiring.erp_client(scenario, seed, runtime=runtime, erp=erp, trace=trace,
                               faults=FaultPlan(scenario.faults))
    engine: EventEngine | OrchestratedEngine
    if pattern == "event":
        # No billing to give: the event pattern never reads it (it has no gap-fill).
        engine = event.create(EnginePorts(runtime=runtime, erp=client, billing=cast(BillingClient, None),
                                          store=store, trace=trace, random=stream(seed, "engine"),
                                          settings=scenario.engine.model_dump()))
    else:
        engine = OrchestratedEngine(runtime=runtime, erp=client, store=store, trace=trace,
                                    random=stream(seed, "engine"),
                                    settings=settings_from(scenario.engine.model_dump()))
    return erp, engine


def erp_documents(erp: Erp) -> list[tuple]:
    """The ERP's documents as sorted (type, source, parent, amount, tax, applied) tuples."""
    rows = []
    for doc_type, records in (("invoice", erp.invoices), ("payment", erp.payments),
                              ("void", erp.voids), ("writeoff", erp.writeoffs)):
        for record in records.values():
            document = record.document
            rows.append((doc_type, document.source_id, document.parent_id, document.amount_minor,
                         document.tax_minor))
    return sorted(rows)


def expected_documents(script: Script) -> list[tuple]:
    """What a correct engine posts for the script: each document once, as first planned."""
    documents: dict[str, ErpDocument] = {}
    for delivery in script.deliveries:
        event = delivery.event  # its type names the record it carries
        if event.type in rules.INVOICE_EVENT_TYPES:
            for document in rules.invoice_documents(cast(Invoice, event.data), event.created_s):
                documents.setdefault(document.external_id, document)
        elif event.type == "charge.succeeded":
            document = rules.payment_document(cast(Charge, event.data))
            documents.setdefault(document.external_id, document)
    return sorted((d.doc_type, d.source_id, d.parent_id, d.amount_minor, d.tax_minor) for d in documents.values())


def replay_simpy(scenario: Scenario, seed: int, script: Script, pattern: str = "orchestrated") -> list[tuple]:
    """Feed the script to a fresh engine (orchestrated, or event: the patterns whose receiver
    answers at once) in virtual time; return the ERP's documents."""
    env = simpy.Environment(initial_time=script.start_s)
    runtime = SimPyRuntime(env)
    erp, engine = _fresh(scenario, seed, runtime, script, pattern)
    engine.start()
    for delivery in script.deliveries:
        runtime.call_later(delivery.offset_s, engine.receive, delivery.event)
    last_s = script.deliveries[-1].offset_s if script.deliveries else 0.0
    env.run(until=script.start_s + last_s + 1.0)
    while not engine.idle():
        env.run(until=env.now + 60.0)
    return erp_documents(erp)


def replay_asyncio(scenario: Scenario, seed: int, script: Script, speedup: float,
                   pattern: str = "orchestrated") -> list[tuple]:
    """Feed the script to a fresh engine under asyncio, `speedup` times faster than real time."""

    async def main() -> list[tuple]:
        runtime = AsyncioRuntime(script.start_s, speedup)
        erp, engine = _fresh(scenario, seed, runtime, script, pattern)
        engine.start()
        for delivery in script.deliveries:
            runtime.call_later(delivery.offset_s, engine.receive, delivery.event)
        last_s = script.deliveries[-1].offset_s if script.deliveries else 0.0
        await asyncio.sleep((last_s + 1.0) / speedup)
        while not engine.idle():
            await asyncio.sleep(1.0 / speedup)
        await runtime.shutdown()
        if runtime.failures:
            raise runtime.failures[0]
        return erp_documents(erp)

    return asyncio.run(main())
