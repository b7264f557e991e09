"""Same scenario, same seed: the same trace byte for byte, whatever the hash seed and with no hidden
entropy; another seed: another trace."""

import datetime
import hashlib
import json
import os
import random
import subprocess
import sys
import time
import uuid

import pytest

from rehearse.sim import runner


def _without_wall(metrics: dict) -> dict:
    return {key: value for key, value in metrics.items() if key != "wall"}


def test_same_seed_gives_byte_identical_outputs(small_scenario, tmp_path):
    first = runner.run(small_scenario, 3, out_dir=tmp_path / "a")
    second = runner.run(small_scenario, 3, out_dir=tmp_path / "b")
    assert (tmp_path / "a/trace.parquet").read_bytes() == (tmp_path / "b/trace.parquet").read_bytes()
    # report.html shows wall-clock figures too; its determinism for equal metrics is a reports test.
    a = json.loads((tmp_path / "a/metrics.json").read_text())
    b = json.loads((tmp_path / "b/metrics.json").read_text())
    assert _without_wall(a) == _without_wall(b)
    assert first.trace.equals(second.trace)


def test_another_seed_gives_another_trace(small_scenario):
    one = runner.simulate(small_scenario, 3).trace
    other = runner.simulate(small_scenario, 4).trace
    assert not one.equals(other)


def trace_digest(trace) -> str:
    """A digest of the trace's content (independent of the Parquet writer's version)."""
    digest = hashlib.sha256()
    for row in trace.iter_rows():
        digest.update(repr(row).encode())
    return digest.hexdigest()


# The golden digest pins the whole simulated world: a change here means a change in behaviour
# (traffic, fakes, engine, trace). If the change is intended, update the digest in the same commit
# and say why in its message.
GOLDEN_SEED = 11
GOLDEN_DIGEST = "2cb2961c10470dd2a26c714ba3f0c3e28ed4bb491d127afd085957876089d2da"


def test_golden_trace_digest(small_scenario):
    digest = trace_digest(runner.simulate(small_scenario, GOLDEN_SEED).trace)
    assert digest == GOLDEN_DIGEST, f"trace digest changed: {digest}"


# The golden run in a fresh interpreter, printing its digest; this folder's modules by their names,
# as pytest imports them.
_DIGEST_IN_A_FRESH_PROCESS = f"""
import sys
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
from conftest import SMALL
from test_determinism import trace_digest
from rehearse.sim import runner
from rehearse.sim.scenario import load
scenario, _ = load("month-end", SMALL)
print(trace_digest(runner.simulate(scenario, {GOLDEN_SEED}).trace))
"""


@pytest.mark.parametrize("hash_seed", ["0", "4242"])
def test_the_golden_digest_does_not_depend_on_the_hash_seed(hash_seed, tmp_path):
    """Strings hash differently in every process unless PYTHONHASHSEED pins them, so iterating a set
    or a dict keyed by such hashes in simulated code would change the trace from one process to the
    next. Two fixed, different hash seeds must both give the golden digest."""
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run([sys.executable, "-c", _DIGEST_IN_A_FRESH_PROCESS], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == GOLDEN_DIGEST


# -- no hidden entropy: simulated code reaches time, randomness and ids only through the world's ports.
# With the wall clock, the global random state, `uuid` and `datetime.now` made to raise, a whole run
# still works and gives the golden trace.


class HiddenEntropy(AssertionError):
    """Simulated code read the wall clock, the global random state or a random id."""


def _forbidden(name: str):
    def call(*args, **kwargs):
        raise HiddenEntropy(f"simulated code called {name}")
    return call


class _NoNow(datetime.datetime):
    now = classmethod(_forbidden("datetime.now"))
    utcnow = classmethod(_forbidden("datetime.utcnow"))
    today = classmethod(_forbidden("datetime.today"))


# The global random module's functions (all bound to one hidden instance) and the wall clock;
# time.perf_counter stays: the runner times itself with it, outside the simulated world.
GLOBAL_RANDOM = ("random", "randint", "randrange", "choice", "choices", "shuffle", "sample", "uniform",
                 "gauss", "normalvariate", "lognormvariate", "expovariate", "getrandbits", "randbytes")


@pytest.fixture()
def no_hidden_entropy(monkeypatch):
    for name in GLOBAL_RANDOM:
        monkeypatch.setattr(random, name, _forbidden(f"random.{name}"))
    monkeypatch.setattr(time, "time", _forbidden("time.time"))
    monkeypatch.setattr(time, "time_ns", _forbidden("time.time_ns"))
    monkeypatch.setattr(uuid, "uuid1", _forbidden("uuid.uuid1"))
    monkeypatch.setattr(uuid, "uuid4", _forbidden("uuid.uuid4"))
    monkeypatch.setattr(datetime, "datetime", _NoNow)


def test_the_fixture_does_forbid(no_hidden_entropy):
    for call in (random.random, time.time, uuid.uuid4, datetime.datetime.now):
        with pytest.raises(HiddenEntropy):
            call()


def test_a_run_needs_no_hidden_entropy_and_gives_the_golden_trace(small_scenario, no_hidden_entropy):
    assert trace_digest(runner.simulate(small_scenario, GOLDEN_SEED).trace) == GOLDEN_DIGEST
