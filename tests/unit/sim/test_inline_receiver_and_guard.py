"""Unit tests of an inline receiver (the sender waits for an awaitable answer, at most its timeout),
of the guard around an outside engine, of the watchdog that stops a frozen simulation, and of the
[engine] keys the patterns and plug-ins add."""

from __future__ import annotations

import random
import time

import pytest
import simpy

from rehearse.sim.distributions import LogNormal
from rehearse.sim.engine_guard import GuardedEngine, GuardedRuntime
from rehearse.sim.plugins import EngineFailure, EngineLoadError, load_factory
from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.scenario import ScenarioError, load
from rehearse.sim.simpy_runtime import SimPyRuntime
from rehearse.sim.watchdog import SimulationStalled, Watchdog
from rehearse.sim.webhooks import WebhookSender
from rehearse.sync.model import Address, Customer, Event, parse_utc

START_S = parse_utc("2026-01-15T10:00:00Z")


def make_event() -> Event:
    address = Address("1 Main St", "Springfield", "CA", "90001", "US")
    return Event("evt_1", "customer.created", START_S,
                 Customer("cus_1", "US01", "USD", "Acme", "ap@acme.test", address, START_S))


def sender_with(handler_s: list[float], acknowledge: bool = True):
    """A sender whose receiver works `handler_s[attempt]` virtual seconds before it answers."""
    runtime = SimPyRuntime(simpy.Environment(initial_time=START_S))
    trace = TraceRecorder()
    attempts: list[float] = []

    async def handle(seconds: float) -> bool:
        await runtime.sleep(seconds)
        return acknowledge

    def receiver(event: Event):
        attempts.append(runtime.now() - START_S)
        return handle(handler_s[len(attempts) - 1])

    sender = WebhookSender(runtime=runtime, latency=LogNormal(1.0, 1.0, random.Random(1)), rng=random.Random(2),
                           receiver=receiver, trace=trace, retry_delays_s=(60.0, 300.0), timeout_s=20.0)
    return runtime, sender, trace, attempts


def test_the_sender_waits_for_an_inline_answer():
    runtime, sender, trace, attempts = sender_with([5.0])
    sender.send(make_event())
    runtime.env.run(until=START_S + 3.0)
    assert sender.in_transit == 1 and len(attempts) == 1  # the handler is working
    runtime.env.run(until=START_S + 600.0)
    assert sender.in_transit == 0 and sender.delivered == 1 and len(attempts) == 1


def test_an_answer_after_the_timeout_is_not_heard_and_the_sender_retries():
    runtime, sender, trace, attempts = sender_with([25.0, 1.0])
    sender.send(make_event())
    runtime.env.run(until=START_S + 600.0)
    assert len(attempts) == 2 and sender.delivered == 1
    assert trace.frame().filter(kind="webhook.failed")["code"].to_list() == ["timeout"]


def test_a_false_inline_answer_is_retried_then_lost():
    runtime, sender, trace, attempts = sender_with([1.0, 1.0, 1.0], acknowledge=False)
    sender.send(make_event())
    runtime.env.run(until=START_S + 3600.0)
    assert len(attempts) == 3 and sender.lost == 1 and sender.in_transit == 0
    assert trace.frame().filter(kind="webhook.failed")["code"].to_list() == ["not_acknowledged"] * 2


# -- the guard ------------------------------------------------------------------------------------


class Fine:
    up = True

    def __init__(self, answer=True, items=None):
        self.answer = answer
        self.items = [] if items is None else items

    def start(self): ...

    def receive(self, event):
        return self.answer

    def idle(self):
        return True

    def unfinished(self):
        return self.items

    def crash(self): ...

    def restart(self): ...


def test_the_guard_passes_good_answers_and_hides_missing_capabilities():
    engine = GuardedEngine(Fine(), "x:y")
    assert engine.receive(make_event()) is True and engine.idle() is True and engine.unfinished() == []
    assert not hasattr(engine, "replay") and not hasattr(engine, "store")


@pytest.mark.parametrize(("engine", "call", "says"), [
    (Fine(answer=1), "receive", "receive() returned 1 (a int)"),
    (Fine(items=("a",)), "unfinished", "unfinished() returned ('a',) (a tuple)"),
    (Fine(items=["a"]), "unfinished", "unfinished() holds 'a' (a str)"),
])
def test_the_guard_names_the_engine_and_the_wrong_answer(engine, call, says):
    guarded = GuardedEngine(engine, "pkg.mod:make")
    with pytest.raises(EngineFailure) as caught:
        guarded.receive(make_event()) if call == "receive" else guarded.unfinished()
    assert str(caught.value).startswith("engine 'pkg.mod:make' ") and says in str(caught.value)


def test_the_guarded_runtime_refuses_what_is_not_a_coroutine():
    runtime = GuardedRuntime(SimPyRuntime(simpy.Environment()), "pkg.mod:make")
    with pytest.raises(EngineFailure, match="spawned 42"):
        runtime.spawn(42)


class Raising(Fine):
    """An engine whose every answer is an exception, or an awaitable of one."""

    def __init__(self, awaited=False):
        super().__init__()
        self.awaited = awaited

    def receive(self, event):
        if self.awaited:
            async def answer():
                raise KeyError("evt_1")
            return answer()
        raise KeyError("evt_1")

    def idle(self):
        return "yes"

    def replay(self, key):
        raise ValueError(key)


def _drive(awaitable):
    """Run an awaitable that never suspends, as SimPy would drive it."""
    try:
        awaitable.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("suspended")


def test_the_guard_turns_every_raise_and_wrong_type_into_an_engine_failure():
    guarded = GuardedEngine(Raising(), "pkg.mod:make")
    with pytest.raises(EngineFailure, match=r"receive\(\) raised KeyError: 'evt_1'"):
        guarded.receive(make_event())
    with pytest.raises(EngineFailure, match=r"idle\(\) returned 'yes' \(a str\), expected a bool"):
        guarded.idle()
    with pytest.raises(EngineFailure, match=r"replay\(\) raised ValueError: in_1"):
        guarded.replay("in_1")  # an optional capability the engine has goes through the guard too
    awaited = GuardedEngine(Raising(awaited=True), "pkg.mod:make").receive(make_event())
    with pytest.raises(EngineFailure, match=r"receive\(\) raised KeyError: 'evt_1'"):
        _drive(awaited)
    with pytest.raises(EngineFailure, match=r"receive\(\) returned 'no' \(a str\), expected a bool"):
        _drive(GuardedEngine(Fine(answer=_async_answer("no")), "pkg.mod:make").receive(make_event()))
    with pytest.raises(EngineFailure, match="returned object, which lacks up, start, receive, idle, unfinished"):
        GuardedEngine(object(), "pkg.mod:make")


def _async_answer(value):
    async def answer():
        return value
    return answer()


def test_the_guarded_runtime_ends_the_run_when_a_workflow_or_a_callback_raises():
    env = simpy.Environment()
    runtime = GuardedRuntime(SimPyRuntime(env), "pkg.mod:make")

    async def workflow():
        await runtime.sleep(1.0)
        raise RuntimeError("lost the ERP client")

    runtime.spawn(workflow())
    with pytest.raises(EngineFailure, match="a workflow raised RuntimeError: lost the ERP client"):
        env.run(until=5.0)
    env = simpy.Environment()
    runtime = GuardedRuntime(SimPyRuntime(env), "pkg.mod:make")
    runtime.call_later(1.0, lambda key: {}[key], "in_9")
    with pytest.raises(EngineFailure, match="a callback raised KeyError: 'in_9'"):
        env.run(until=5.0)


def test_an_engine_failure_survives_simpys_re_raise():
    failure = EngineFailure("a:b", "broke")
    assert str(type(failure)(*failure.args)) == "engine 'a:b' broke"


def test_a_spec_of_the_wrong_form_is_refused():
    with pytest.raises(EngineLoadError, match="is not 'package.module:factory'"):
        load_factory("rehearse.sync.p2p")


def test_a_module_spec_loads_its_factory():
    from rehearse.sync import p2p
    assert load_factory("rehearse.sync.p2p:create") is p2p.create


# -- the watchdog ----------------------------------------------------------------------------------


def test_the_watchdog_interrupts_a_busy_loop_that_froze_progress():
    started = time.monotonic()
    with pytest.raises(SimulationStalled):
        with Watchdog(lambda: 0, limit_s=0.3, poll_s=0.05):
            while True:
                pass
    assert time.monotonic() - started < 5.0


def test_the_watchdog_stays_quiet_while_progress_moves():
    ticks = [0]
    with Watchdog(lambda: ticks[0], limit_s=0.3, poll_s=0.05) as watchdog:
        end = time.monotonic() + 0.8
        while time.monotonic() < end:
            ticks[0] += 1
    assert not watchdog.fired


# -- the [engine] keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(("override", "key"), [
    ('engine.pattern="choreographed"', "engine.pattern"),
    ('engine.factory="no-colon"', "engine.factory"),
    ("engine.p2p.retries=-1", "engine.p2p.retries"),
    ("engine.batch.interval_s=0", "engine.batch.interval_s"),
    ("engine.event.consumers=0", "engine.event.consumers"),
    ("engine.event.partitions=4", "engine.event.partitions"),
])
def test_bad_engine_keys_are_refused_naming_the_key(override, key):
    with pytest.raises(ScenarioError) as caught:
        load("smoke", [override])
    assert any(key in message for message in caught.value.messages)


def test_every_pattern_and_a_factory_are_accepted():
    for pattern in ("p2p", "batch", "event", "orchestrated"):
        scenario, _ = load("smoke", [f'engine.pattern="{pattern}"'])
        assert scenario.engine.label == pattern
    scenario, _ = load("smoke", ['engine.factory="examples/minimal_engine.py:create"', "engine.options.workers=4"])
    assert scenario.engine.label == "examples/minimal_engine.py:create" and scenario.engine.options == {"workers": 4}
