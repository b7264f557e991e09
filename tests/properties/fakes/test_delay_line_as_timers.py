"""DelayLine against one timer per item: the same calls, at the same times, in the same order."""

from __future__ import annotations

import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from rehearse.fakes.delay_line import DelayLine
from rehearse.sim.simpy_runtime import SimPyRuntime

START_S = 1_769_904_000.0


def _run(gaps_s: list[float], delay_s: float, *, line: bool) -> list[tuple[int, float]]:
    env = simpy.Environment(initial_time=START_S)
    runtime = SimPyRuntime(env)
    calls: list[tuple[int, float]] = []

    def schedule(after_s, callback, *args):
        runtime.call_later(after_s, lambda: callback(*args, env.now))

    def record(item, now_s):
        calls.append((item, now_s))

    delayed = DelayLine(schedule, delay_s, record)

    def put(item):
        if line:
            delayed.put(item, env.now)
        else:
            schedule(delay_s, record, item)

    at_s = 0.0
    for item, gap_s in enumerate(gaps_s):
        at_s += gap_s
        runtime.call_later(at_s, put, item)
    env.run()
    return calls


@settings(max_examples=200, deadline=None)
@given(gaps_s=st.lists(st.one_of(st.just(0.0), st.floats(0.0, 7200.0)), max_size=40),
       delay_s=st.one_of(st.just(3600.0), st.floats(0.0, 86400.0)))
def test_a_delay_line_calls_back_as_one_timer_per_item_would(gaps_s, delay_s) -> None:
    assert _run(gaps_s, delay_s, line=True) == _run(gaps_s, delay_s, line=False)
