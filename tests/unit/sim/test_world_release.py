"""A finished world is freed by reference counting once released, not by a collector pass."""

import gc

import simpy

from rehearse.fakes.billing.platform import SubscriptionRecord
from rehearse.fakes.erp.state import InvoiceRecord
from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.scenario import load
from rehearse.sim.simpy_runtime import SimPyRuntime
from rehearse.sim.world import World
from rehearse.sync.store import MemoryStore

SHORT = ["traffic.subscriptions=40", "run.traffic_days=0.3"]


def _finished_world(tmp_path):
    scenario, _ = load("smoke", SHORT)
    env = simpy.Environment(initial_time=scenario.run.start_s)
    trace = TraceRecorder(tmp_path)
    world = World(scenario, 3, SimPyRuntime(env), trace, tmp_path)
    world.load_book()
    world.start()
    env.run(until=world.window_end_s)
    assert len(world.erp.invoices) > 0  # it did post: the book is not empty
    return world, scenario, trace


def _alive(kind: type) -> int:
    return sum(1 for thing in gc.get_objects() if type(thing) is kind)


def test_release_frees_the_book_without_the_cyclic_collector(tmp_path):
    gc.collect()
    gc.disable()
    try:
        # Other tests of the same process may hold worlds of their own: count this one's objects.
        before = {kind: _alive(kind) for kind in (InvoiceRecord, SubscriptionRecord, MemoryStore)}
        world, scenario, trace = _finished_world(tmp_path)
        assert _alive(InvoiceRecord) > before[InvoiceRecord]
        assert _alive(SubscriptionRecord) - before[SubscriptionRecord] == 40
        world.close()
        world.release()
        del world
        # Nothing was collected (the collector is off): reference counting alone freed the ERP's
        # and billing's books, except what a pending timer or a suspended workflow still holds
        # (here a renewal or two), which waits for the collector.
        assert _alive(InvoiceRecord) == before[InvoiceRecord]
        assert _alive(MemoryStore) == before[MemoryStore]
        assert _alive(SubscriptionRecord) - before[SubscriptionRecord] <= 4
    finally:
        gc.enable()


def test_without_release_the_world_is_a_cycle(tmp_path):
    """The reason `release` exists: the components reference each other."""
    gc.collect()
    gc.disable()
    try:
        before = _alive(InvoiceRecord)
        world, _, _ = _finished_world(tmp_path)
        world.close()
        del world
        assert _alive(InvoiceRecord) > before
        gc.collect()
        assert _alive(InvoiceRecord) == before
    finally:
        gc.enable()


def test_release_leaves_what_the_caller_lent(tmp_path):
    world, scenario, trace = _finished_world(tmp_path)
    rows = len(trace)
    world.close()
    world.release()
    assert scenario.name == "smoke" and len(trace) == rows
    trace.emit(0.0, "run.end")  # the trace still records
