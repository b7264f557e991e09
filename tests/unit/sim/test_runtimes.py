"""Unit tests of the two Runtime adapters: SimPy (virtual time) and asyncio (real waits divided by a
speedup). Time, scheduling, queues and failures behave alike, and one small program of workers
pulling from a queue gives the same results under both."""

from __future__ import annotations

import asyncio

import pytest
import simpy

from rehearse.sim.asyncio_runtime import AsyncioRuntime
from rehearse.sim.simpy_runtime import SimPyRuntime

START_S = 1_767_225_600.0  # 2026-01-01T00:00:00Z
FAST_SPEEDUP = 10_000.0  # one virtual second is 0.1 ms of wall time


def simpy_runtime() -> SimPyRuntime:
    return SimPyRuntime(simpy.Environment(initial_time=START_S))


# -- SimPy ----------------------------------------------------------------------------------------


def test_simpy_sleep_advances_virtual_time():
    runtime = simpy_runtime()
    seen: list[float] = []

    async def program():
        seen.append(runtime.now())
        await runtime.sleep(2.5)
        seen.append(runtime.now())
        await runtime.sleep(0)
        seen.append(runtime.now())

    runtime.spawn(program())
    runtime.env.run()
    assert seen == [START_S, START_S + 2.5, START_S + 2.5]


def test_simpy_call_later_fires_at_its_time_with_its_arguments():
    runtime = simpy_runtime()
    calls: list[tuple[float, tuple]] = []
    runtime.call_later(3.0, lambda *args: calls.append((runtime.now(), args)), "in_1", 2)
    runtime.call_later(1.0, lambda: calls.append((runtime.now(), ())))
    runtime.env.run()
    assert calls == [(START_S + 1.0, ()), (START_S + 3.0, ("in_1", 2))]


def test_simpy_queue_is_fifo_and_get_does_not_wait_when_items_are_there():
    runtime = simpy_runtime()
    queue = runtime.queue()
    for item in ("a", "b", "c"):
        queue.put(item)
    assert len(queue) == 3
    got: list[tuple[float, str]] = []

    async def consumer():
        for _ in range(3):
            item = await queue.get()
            got.append((runtime.now(), item))

    runtime.spawn(consumer())
    runtime.env.run()
    assert got == [(START_S, "a"), (START_S, "b"), (START_S, "c")]
    assert len(queue) == 0


def test_simpy_get_waits_when_empty_and_resumes_on_put():
    runtime = simpy_runtime()
    queue = runtime.queue()
    got: list[tuple[float, str]] = []

    async def consumer():
        item = await queue.get()
        got.append((runtime.now(), item))

    async def producer():
        await runtime.sleep(5.0)
        queue.put("x")

    runtime.spawn(consumer())
    runtime.spawn(producer())
    runtime.env.run()
    assert got == [(START_S + 5.0, "x")]


def test_simpy_put_goes_straight_to_the_longest_waiting_getter():
    runtime = simpy_runtime()
    queue = runtime.queue()
    got: dict[str, str] = {}
    queued_after_put: list[int] = []

    async def getter(name: str, start_s: float):
        await runtime.sleep(start_s)
        got[name] = await queue.get()

    async def producer():
        await runtime.sleep(5.0)
        queue.put("x")
        queued_after_put.append(len(queue))
        # A getter arriving after the put, before the waiter resumes, does not take its item.
        runtime.spawn(getter("late", 0.0))
        queue.put("y")
        queue.put("z")

    runtime.spawn(getter("second", 2.0))
    runtime.spawn(getter("first", 1.0))
    runtime.spawn(producer())
    runtime.env.run()
    assert queued_after_put == [0]
    assert got == {"first": "x", "second": "y", "late": "z"}


def test_simpy_a_failing_spawned_coroutine_makes_run_raise():
    runtime = simpy_runtime()

    async def failing():
        await runtime.sleep(1.0)
        raise ValueError("boom in a worker")

    runtime.spawn(failing())
    with pytest.raises(ValueError, match="boom in a worker"):
        runtime.env.run()
    assert runtime.now() == START_S + 1.0


def test_simpy_a_failing_call_later_callback_makes_run_raise():
    runtime = simpy_runtime()

    def failing():
        raise KeyError("evt_1")

    runtime.call_later(1.0, failing)
    with pytest.raises(KeyError, match="evt_1"):
        runtime.env.run()


def test_simpy_close_processes_runs_the_finally_of_suspended_coroutines_in_spawn_order():
    runtime = simpy_runtime()
    closed = []

    async def waiting(name, wait_s):
        try:
            await runtime.sleep(wait_s)
        finally:
            closed.append(name)

    async def waiting_on_a_queue():
        try:
            await runtime.queue().get()
        finally:
            closed.append("queue")

    runtime.spawn(waiting("done", 1.0))
    runtime.spawn(waiting("late", 100.0))
    runtime.spawn(waiting_on_a_queue())
    runtime.spawn(waiting("later", 200.0))
    runtime.env.run(until=START_S + 10.0)
    assert closed == ["done"]  # finished on its own; the others wait
    runtime.close_processes()
    assert closed == ["done", "late", "queue", "later"]
    runtime.close_processes()  # nothing left to close
    assert closed == ["done", "late", "queue", "later"]


def test_simpy_close_processes_goes_on_when_a_cleanup_fails():
    runtime = simpy_runtime()
    closed = []

    async def failing_cleanup():
        try:
            await runtime.sleep(100.0)
        finally:
            raise AttributeError("the world is gone")

    async def tidy():
        try:
            await runtime.sleep(100.0)
        finally:
            closed.append("tidy")

    runtime.spawn(failing_cleanup())
    runtime.spawn(tidy())
    runtime.env.run(until=START_S + 1.0)
    runtime.close_processes()
    assert closed == ["tidy"]


# -- asyncio --------------------------------------------------------------------------------------


def test_asyncio_rejects_a_speedup_that_is_not_positive():
    async def make(speedup: float):
        AsyncioRuntime(START_S, speedup)

    for speedup in (0.0, -1.0):
        with pytest.raises(ValueError, match="speedup"):
            asyncio.run(make(speedup))


def test_asyncio_speedup_divides_waits_and_now_reports_scenario_time():
    async def program():
        runtime = AsyncioRuntime(START_S, FAST_SPEEDUP)
        assert START_S <= runtime.now() < START_S + 0.05 * FAST_SPEEDUP
        wall_start_s = runtime.loop.time()
        await runtime.sleep(100.0)
        return runtime.now() - START_S, runtime.loop.time() - wall_start_s

    virtual_s, wall_s = asyncio.run(program())
    # 100 virtual seconds take 10 ms of wall time; allow a loaded machine some slack.
    assert 100.0 - 1.0 <= virtual_s < 100.0 + 0.5 * FAST_SPEEDUP
    assert 0.0099 <= wall_s < 0.5


def test_asyncio_call_later_fires_after_its_scenario_delay_with_its_arguments():
    calls: list[tuple[float, tuple]] = []

    async def program():
        runtime = AsyncioRuntime(START_S, FAST_SPEEDUP)
        runtime.call_later(300.0, lambda *args: calls.append((runtime.now() - START_S, args)), "in_1", 2)
        runtime.call_later(100.0, lambda: calls.append((runtime.now() - START_S, ())))
        await runtime.sleep(500.0)
        return runtime.failures

    assert asyncio.run(program()) == []
    assert [args for _, args in calls] == [(), ("in_1", 2)]
    assert 100.0 - 1.0 <= calls[0][0] < calls[1][0]
    assert 300.0 - 1.0 <= calls[1][0] < 500.0 + 1.0


def test_asyncio_queue_is_fifo_and_serves_waiting_getters_in_arrival_order():
    async def program():
        runtime = AsyncioRuntime(START_S, FAST_SPEEDUP)
        queue = runtime.queue()
        got: list[tuple[str, str]] = []

        async def getter(name: str):
            got.append((name, await queue.get()))

        runtime.spawn(getter("first"))
        await asyncio.sleep(0)
        runtime.spawn(getter("second"))
        await asyncio.sleep(0)
        assert got == []  # both wait on the empty queue
        for item in ("a", "b", "c"):
            queue.put(item)
        assert len(queue) == 3
        await runtime.sleep(1.0)
        return got, len(queue), runtime.failures

    got, left, failures = asyncio.run(program())
    assert got == [("first", "a"), ("second", "b")]
    assert left == 1 and failures == []


def test_asyncio_failures_of_callbacks_and_tasks_are_recorded():
    async def program():
        runtime = AsyncioRuntime(START_S, FAST_SPEEDUP)

        def failing_callback(event_id: str):
            raise KeyError(event_id)

        async def failing_task():
            await runtime.sleep(1.0)
            raise ValueError("boom in a worker")

        runtime.call_later(1.0, failing_callback, "evt_1")
        runtime.spawn(failing_task())
        await runtime.sleep(50.0)
        return runtime.failures

    failures = asyncio.run(program())
    assert sorted(type(failure).__name__ for failure in failures) == ["KeyError", "ValueError"]
    assert {str(failure) for failure in failures} == {"'evt_1'", "boom in a worker"}


def test_asyncio_shutdown_cancels_workers_without_recording_failures():
    cancelled: list[str] = []

    async def program():
        runtime = AsyncioRuntime(START_S, FAST_SPEEDUP)
        queue = runtime.queue()

        async def worker(name: str):
            try:
                while True:
                    await queue.get()
            except asyncio.CancelledError:
                cancelled.append(name)
                raise

        runtime.spawn(worker("w1"))
        runtime.spawn(worker("w2"))
        await runtime.sleep(1.0)
        await runtime.shutdown()
        return runtime

    runtime = asyncio.run(program())
    assert sorted(cancelled) == ["w1", "w2"]
    assert runtime.failures == []


# -- the same program under both ------------------------------------------------------------------

JOBS = (("a", 3.0), ("b", 1.0), ("c", 4.0), ("d", 1.0), ("e", 2.0))
# w1: a [0, 3), d [3, 4), e [4, 6); w2: b [0, 1), c [1, 5). Completions are a whole second apart.
EXPECTED_ORDER = [("b", "w2"), ("a", "w1"), ("d", "w1"), ("c", "w2"), ("e", "w1")]


async def worker(runtime, queue, name: str, done: list[tuple[str, str, float]]):
    while True:
        job, duration_s = await queue.get()
        await runtime.sleep(duration_s)
        done.append((job, name, runtime.now() - START_S))


def start_workers(runtime, done: list) -> None:
    queue = runtime.queue()
    for job in JOBS:
        queue.put(job)
    runtime.spawn(worker(runtime, queue, "w1", done))
    runtime.spawn(worker(runtime, queue, "w2", done))


def test_two_workers_finish_jobs_in_the_same_order_under_both_runtimes():
    simulated: list[tuple[str, str, float]] = []
    runtime = simpy_runtime()
    start_workers(runtime, simulated)
    runtime.env.run()
    assert simulated == [(job, name, end_s) for (job, name), end_s in zip(EXPECTED_ORDER, [1, 3, 4, 5, 6])]

    live: list[tuple[str, str, float]] = []

    async def program():
        runtime = AsyncioRuntime(START_S, speedup=20.0)  # one virtual second is 50 ms
        start_workers(runtime, live)
        while len(live) < len(JOBS):
            await runtime.sleep(0.25)
        await runtime.shutdown()
        return runtime.failures

    assert asyncio.run(program()) == []
    assert [(job, name) for job, name, _ in live] == EXPECTED_ORDER
