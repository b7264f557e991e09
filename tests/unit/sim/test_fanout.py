"""fan_out: results in spec order, one callback per finished run, a failed future is that run's
error; the serial executor reports each run as it ends."""

from __future__ import annotations

import concurrent.futures as cf
from concurrent.futures.process import BrokenProcessPool

from rehearse.sim import fanout
from rehearse.sim.fanout import SerialExecutor, fan_out
from rehearse.sim.plan import Arm, plan_runs


def _specs(count: int = 3):
    return plan_runs("smoke", arms=[Arm("orchestrated", ())], seed_count=count).specs


def test_the_serial_executor_reports_each_run_before_starting_the_next(monkeypatch):
    events = []

    def execute(spec):
        events.append(("ran", spec.seed))
        return {"arm": spec.arm, "seed": spec.seed, "metrics": {}, "summary": {}, "error": None}

    monkeypatch.setattr(fanout, "execute", execute)
    results = fan_out(_specs(), SerialExecutor(), lambda result: events.append(("reported", result["seed"])))
    assert [result["seed"] for result in results] == [1, 2, 3]
    assert events == [("ran", 1), ("reported", 1), ("ran", 2), ("reported", 2), ("ran", 3), ("reported", 3)]


class _DyingWorkers(cf.Executor):
    """Every second submission's worker dies; the others finish later, in reverse order."""

    def __init__(self) -> None:
        self.futures: list[cf.Future] = []

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        future: cf.Future = cf.Future()
        self.futures.append(future)
        if len(self.futures) == 3:  # all submitted: finish them, last first
            for index in reversed(range(3)):
                if index == 1:
                    self.futures[index].set_exception(BrokenProcessPool("a worker died"))
                else:
                    self.futures[index].set_result({"arm": "orchestrated", "seed": index + 1, "metrics": {},
                                                    "summary": {}, "error": None})
        return future


def test_a_failed_future_becomes_that_runs_error_and_order_is_kept():
    reported = []
    results = fan_out(_specs(), _DyingWorkers(), lambda result: reported.append(result["seed"]))
    assert [result["seed"] for result in results] == [1, 2, 3]
    assert results[1]["error"] == "the worker failed: BrokenProcessPool: a worker died"
    assert results[1]["metrics"] is None and results[0]["error"] is None
    assert sorted(reported) == [1, 2, 3]
