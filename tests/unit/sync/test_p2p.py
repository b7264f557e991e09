"""The p2p handler reads webhooks as they arrive on the wire: a payload in the API version it maps
is posted like a record; one in a version it does not map is refused (a 500 for the sender) and
traced, and nothing reaches the ERP."""

from __future__ import annotations

import random

import simpy

from rehearse.fakes.erp import Erp
from rehearse.sim.distributions import LogNormal
from rehearse.sim.erp_client import InProcessErpClient
from rehearse.sim.faults import FaultPlan
from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.simpy_runtime import SimPyRuntime
from rehearse.sync import wire
from rehearse.sync.model import Address, Customer, Event
from rehearse.sync.p2p import P2pEngine, P2pSettings

START_S = 1_770_000_000.0


def _engine() -> tuple[simpy.Environment, P2pEngine, Erp, TraceRecorder]:
    env = simpy.Environment(initial_time=START_S)
    runtime = SimPyRuntime(env)
    trace = TraceRecorder()
    erp = Erp(entities={"US01": "USD"}, concurrency_limit=5, trace=trace)
    client = InProcessErpClient(runtime=runtime, erp=erp, latency=LogNormal(120, 400, random.Random(1)),
                                rng=random.Random(2), trace=trace, faults=FaultPlan([]))
    engine = P2pEngine(runtime=runtime, erp=client, trace=trace, settings=P2pSettings())
    engine.start()
    return env, engine, erp, trace


def _customer_created(version: str) -> Event:
    customer = Customer("cus_1", "US01", "USD", "Customer One", "one@example.test",
                        Address("1 Main St", "Springfield", "CA", "90001", "US"), START_S - 86400.0)
    return Event("evt_cus_1", "customer.created", START_S, wire.to_wire(customer, version))


def test_a_payload_in_the_version_it_maps_is_posted():
    env, engine, erp, trace = _engine()
    answers = []

    async def request():
        answers.append(await engine.receive(_customer_created(wire.CURRENT_VERSION)))

    engine.runtime.spawn(request())
    env.run(until=START_S + 60.0)
    assert answers == [True]
    assert erp.lookup("customer", "cus_1").status == 200
    assert trace.frame().filter(kind="engine.received")["ref_id"].to_list() == ["cus_1"]


def test_a_payload_in_a_version_it_does_not_map_is_refused_and_traced():
    env, engine, erp, trace = _engine()
    assert engine.receive(_customer_created(wire.NEXT_VERSION)) is False
    env.run(until=START_S + 60.0)
    assert erp.lookup("customer", "cus_1").status == 404
    refused = trace.frame().filter(kind="engine.dead_lettered")
    assert refused.height == 1 and refused["detail"][0].startswith("refused: API version")
