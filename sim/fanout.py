"""Many runs at once: scenario x seed x arm, fanned out over an executor.

One code path serves every executor: anything with the `concurrent.futures.Executor` interface.
`open_executor` gives a local process pool by default (workers forked from a fresh fork server,
never from this process, see `_pool_context`), runs in this process with one worker, and
connects to an existing Dask cluster with an address (``client.get_executor()`` is a standard
executor). A run is a pure function of its `RunSpec`, so results do not depend on which executor
ran them, nor on the order runs finish in.

A worker returns the run's metrics and `rehearse.reports.summary.run_summary` of its trace (a few
kilobytes), never the trace. A run that raises, or a worker that dies, becomes an error result for
that run; the others go on.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import shlex
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple
from urllib.parse import urlsplit

from rehearse.reports.summary import run_summary
from rehearse.sim import runner
from rehearse.sim.scenario import Scenario
from rehearse.sim.urls import host_problem

__all__ = [
    "CLUSTER_TIMEOUT_S",
    "ClusterError",
    "RunSpec",
    "SerialExecutor",
    "default_workers",
    "execute",
    "fan_out",
    "open_executor",
]

CLUSTER_TIMEOUT_S = 5.0  # connecting to a scheduler that exists takes well under a second
CLUSTER_SCHEMES = ("tcp://", "tls://", "ucx://", "inproc://", "ws://", "wss://")


class RunSpec(NamedTuple):
    """One run of a fan-out. ``scenario`` is already loaded with ``overrides`` applied; the
    scenario argument and the overrides are kept to print the command that replays the run."""

    arm: str  # which arm of a comparison or sweep this run belongs to
    seed: int
    scenario: Scenario
    scenario_arg: str  # the name or path as the user gave it
    overrides: tuple[str, ...]  # every --set that made `scenario`, in order

    def replay_command(self) -> str:
        """The `rehearse run` command that runs exactly this (shell-quoted)."""
        words = ["rehearse", "run", self.scenario_arg, "--seed", str(self.seed)]
        for override in self.overrides:
            words += ["--set", override]
        return shlex.join(words)


def execute(spec: RunSpec) -> dict:
    """Run one spec (in a worker) and return ``{arm, seed, metrics, summary, error}``.

    Never raises: a run that raises comes back with ``error`` (the exception's type and message)
    and ``traceback`` (its last lines), ``metrics`` and ``summary`` None.
    """
    try:
        result = runner.run(spec.scenario, spec.seed)
        summary = run_summary(result.recorded.scan())
    except Exception as error:  # noqa: BLE001 -- a failing run is a result of the sweep, not its end
        return _failure(spec, f"{type(error).__name__}: {error}", traceback.format_exc(limit=-4))
    return {"arm": spec.arm, "seed": spec.seed, "metrics": result.metrics, "summary": summary, "error": None,
            "traceback": None}


def _failure(spec: RunSpec, error: str, trace_text: str = "") -> dict:
    return {"arm": spec.arm, "seed": spec.seed, "metrics": None, "summary": None, "error": error,
            "traceback": trace_text or None}


class SerialExecutor(cf.Executor):
    """Runs each submitted call at once in this process: one worker without a pool's start-up."""

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:  # noqa: D102 -- the Executor interface
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # noqa: BLE001 -- delivered through the future, as a pool does
            future.set_exception(error)  # (an interrupt is not: it stops the sweep)
        return future


class ClusterError(Exception):
    """The cluster address is malformed, unreachable, or Dask is not installed."""


def _pool_context() -> multiprocessing.context.BaseContext:
    """How pool workers start: ``forkserver`` where the platform has it, else ``spawn``.

    The fork server is a fresh process that imports this module (and with it polars, SimPy, Faker)
    once and forks every worker from that state: no thread of this process is forked, and no worker
    pays the imports again (8.6 s -> 5.2 s for four small runs on two workers here). The preload
    list is the fork server's one setting, shared by the whole process; it names this module only.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


def default_workers() -> int:
    """Worker processes by default: the CPUs this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _address_problem(address: str) -> str | None:
    """Why Dask could never connect to `address`, found before it tries: a host no resolver could
    look up, ``tls://`` without Dask's TLS settings, ``ucx://`` without its backend (each raised
    from inside the client)."""
    scheme = address.split("://", 1)[0]
    if scheme in ("tcp", "tls", "ws", "wss"):
        try:
            host = urlsplit(address).hostname
        except ValueError as error:
            return str(error)
        if host and (problem := host_problem(host)) is not None:
            return problem
    if scheme == "tls":
        from distributed.security import Security

        if Security().get_connection_args("client").get("ssl_context") is None:
            return ("tls:// needs Dask's TLS settings (distributed.comm.tls.ca-file, .client.cert and .client.key "
                    "in the Dask configuration or $DASK_DISTRIBUTED__COMM__TLS__*), and none are set")
    if scheme == "ucx":
        from distributed.comm.registry import get_backend

        try:
            get_backend("ucx").get_connector()
        except Exception:  # noqa: BLE001 -- Dask's stub raises TypeError or FutureWarning
            return "the ucx:// protocol is not installed (Dask moved it to the distributed-ucxx package)"
    return None


def _connect(address: str, timeout_s: float):
    if not address.startswith(CLUSTER_SCHEMES):
        raise ClusterError(f"--cluster {address}: expected a scheduler address such as tcp://host:8786")
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError("--cluster needs Dask's distributed scheduler: pip install 'rehearse[dask]'") from None
    if (problem := _address_problem(address)) is not None:
        raise ClusterError(f"--cluster {address}: {problem}")
    # Made first and initialised apart: a client whose start fails is closed here, while its event
    # loop still runs; left to the garbage collector, its __del__ waited 10 s for a loop already
    # stopped and printed a second traceback on the way out.
    client = Client.__new__(Client)
    try:
        Client.__init__(client, address, timeout=f"{timeout_s}s", set_as_default=False)
    except Exception as error:  # noqa: BLE001 -- Dask raises OSError, TimeoutError, ValueError, TypeError...
        with contextlib.suppress(Exception):
            client.close(timeout=timeout_s)
        raise ClusterError(f"--cluster {address}: cannot reach the scheduler "
                           f"within {timeout_s:g} s ({error})") from None
    return client


def _limit_mib(memory_limit: int | None) -> float | None:
    """A Dask worker's memory limit in MiB; Dask says 0 (or nothing) for a worker without one."""
    return memory_limit / (1024.0 * 1024.0) if memory_limit else None


@contextmanager
def open_executor(workers: int, cluster: str | None = None, *, cluster_timeout_s: float | None = None,
                  check_cluster: Callable[[dict[str, tuple[int, float | None]]], None] | None = None,
                  ) -> Iterator[tuple[cf.Executor, str]]:
    """An executor and a one-line description of it.

    Parameters
    ----------
    workers
        Local worker processes (1: run in this process). Ignored with ``cluster``: the cluster's
        workers run the tasks.
    cluster
        A Dask scheduler address (``tcp://host:8786``), or None for the local pool.
    check_cluster
        Called with the cluster's workers before anything runs: address -> (threads, memory
        limit in MiB or None). It raises to refuse the cluster (the client is closed).

    Raises
    ------
    ClusterError
        When the address is malformed or unreachable within ``cluster_timeout_s`` (default
        `CLUSTER_TIMEOUT_S`), or Dask is missing.
    """
    if cluster is not None:
        client = _connect(cluster, CLUSTER_TIMEOUT_S if cluster_timeout_s is None else cluster_timeout_s)
        try:
            workers_info = client.scheduler_info(n_workers=-1).get("workers", {})
            workers_there = len(workers_info)
            if check_cluster is not None:
                check_cluster({address: (int(info.get("nthreads") or 1), _limit_mib(info.get("memory_limit")))
                               for address, info in workers_info.items()})
            yield client.get_executor(pure=False), f"Dask cluster {cluster} ({workers_there} workers)"
        finally:
            client.close()
    elif workers <= 1:
        yield SerialExecutor(), "this process (1 worker)"
    else:
        pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context())
        try:
            yield pool, f"local process pool ({workers} workers)"
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # interrupted: do not run the queued rest
            raise
        pool.shutdown(wait=True)


def fan_out(specs: Sequence[RunSpec], executor: cf.Executor,
            on_result: Callable[[dict], None] | None = None) -> list[dict]:
    """Run every spec on the executor; results in the order of ``specs``.

    ``on_result`` is called in this process as each run finishes (for a progress bar). A future
    that fails (the worker died, the spec could not be sent) becomes that run's error result.
    """
    results: list[dict | None] = [None] * len(specs)

    def finished(future: cf.Future, index: int) -> None:
        try:
            result = future.result()
        except Exception as error:  # noqa: BLE001 -- BrokenProcessPool, a lost Dask worker, pickling
            result = _failure(specs[index], f"the worker failed: {type(error).__name__}: {error}")
        results[index] = result
        if on_result is not None:
            on_result(result)

    pending = {}
    for index, spec in enumerate(specs):
        future = executor.submit(execute, spec)
        if future.done():  # a serial executor runs at submission: report each run as it ends
            finished(future, index)
        else:
            pending[future] = index
    for future in cf.as_completed(pending):
        finished(future, pending[future])
    return results  # type: ignore[return-value]
