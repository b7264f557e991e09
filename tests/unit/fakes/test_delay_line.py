"""DelayLine: one timer for many items with the same delay."""

from __future__ import annotations

import pytest
import simpy

from rehearse.fakes.delay_line import DelayLine
from rehearse.sim.simpy_runtime import SimPyRuntime

START_S = 1_769_904_000.0  # 2026-02-01T00:00:00Z


class Clock:
    """A SimPy clock with the fakes' `schedule(delay_s, callback, *args)`, counting timers."""

    def __init__(self) -> None:
        self.env = simpy.Environment(initial_time=START_S)
        self.runtime = SimPyRuntime(self.env)
        self.timers = 0

    def schedule(self, delay_s, callback, *args) -> None:
        self.timers += 1
        self.runtime.call_later(delay_s, lambda: callback(*args, self.env.now))


def test_items_are_called_back_after_the_delay_in_the_order_put_with_one_timer_pending() -> None:
    clock = Clock()
    calls = []
    line = DelayLine(clock.schedule, 3600.0, lambda item, now_s: calls.append((item, now_s)))

    def put(item):
        line.put(item, clock.env.now)

    for i, at_s in enumerate([0.0, 0.0, 1.0, 1.0, 2.5]):
        clock.runtime.call_later(at_s, put, i)
    clock.env.run(until=START_S + 10.0)
    assert clock.timers == 1 and len(line) == 5 and calls == []
    clock.env.run()
    assert calls == [(0, START_S + 3600.0), (1, START_S + 3600.0), (2, START_S + 3601.0),
                     (3, START_S + 3601.0), (4, START_S + 3602.5)]
    assert clock.timers == 3  # one per distinct due time
    assert len(line) == 0


def test_an_item_put_while_calling_back_waits_its_own_delay() -> None:
    clock = Clock()
    calls = []

    def again(item, now_s):
        calls.append((item, now_s))
        if item == "first":
            line.put("second", now_s)

    line = DelayLine(clock.schedule, 60.0, again)
    line.put("first", START_S)
    clock.env.run()
    assert calls == [("first", START_S + 60.0), ("second", START_S + 120.0)]


def test_a_zero_delay_calls_back_at_the_same_time() -> None:
    clock = Clock()
    calls = []
    line = DelayLine(clock.schedule, 0.0, lambda item, now_s: calls.append((item, now_s)))
    line.put("x", START_S)
    assert calls == []  # later, not inline
    clock.env.run()
    assert calls == [("x", START_S)]


def test_a_put_earlier_than_a_waiting_item_gets_a_timer_of_its_own() -> None:
    scheduled = []
    line = DelayLine(lambda delay_s, callback, *args: scheduled.append((delay_s, callback, args)), 10.0,
                     lambda item, now_s: None)
    line.put("a", 100.0)
    line.put("b", 99.0)  # a clock that went back
    assert len(line) == 1
    assert [(delay_s, args) for delay_s, _, args in scheduled] == [(10.0, ()), (10.0, ("b",))]


def test_a_negative_delay_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        DelayLine(lambda *args: None, -1.0, lambda item, now_s: None)
