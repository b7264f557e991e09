"""Before a run: will it fit in this machine's memory, and will gap-fill make it crawl?

A simulated run holds every subscription's records (billing's, the gateway's, the ERP's, the
engine's postings) until it ends, so its peak memory grows with the book and with how many times
the book renews inside the traffic window. A scenario asking for ten million subscriptions on a
24 GiB machine used to run for minutes and then be killed by the operating system; this estimate
lets the command line refuse it at once, naming the keys that make it big.

The figures are measured, not derived: `rehearse run month-end` with
`--set traffic.subscriptions=N` under `/usr/bin/time -f %M` on the 2-core development machine
(2026-11-27): smoke (1,000 subscriptions) peaked at 215 MiB; 30,000 at 379 MiB; 200,000 at
1,060 MiB; 100,000 over 35 days (two month starts) at 1,070 MiB; `bench/peak.py --subscriptions
1000000` at 3,747 MiB. That is 3.6 to 5.6 KiB a subscription for each renewal peak. Of the
fault scenarios, bad-month-end took 1,212 MiB at 200,000 subscriptions (5.1 KiB), webhook-storm
1,104 and erp-throttling 1,079; of the other patterns batch 964 and event 1,106. Two cost much
more: the point-to-point pattern without a backlog limit, whose abandoned requests pile up, and a
receiver that is down (below).

Gap-fill is the other way a small scenario can turn into a long run: each sweep lists everything
billing holds, so sweeping every minute over weeks repeats that listing tens of thousands of times.
That is what the engine setting asks for, so the run goes ahead, with a warning that says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import psutil

from rehearse.sim.scenario import Scenario
from rehearse.sync.model import month_start_at_or_after_s

# What a run costs before its first subscription: the interpreter, polars, SimPy, the fakes.
PROCESS_BASE_MIB = 220.0
# Per subscription and renewal peak: above every run measured (3.6 KiB at a million, 4.3 at
# 200,000, 5.1 for bad-month-end at 200,000, 5.6 at 30,000, where 5.5 gives 382 MiB against 379),
# since refusing a run that would have fitted costs a flag and running one that does not costs
# minutes and then nothing.
SUBSCRIPTION_PEAK_KIB = 5.5
# The point-to-point handler without a backlog limit, measured the same way with
# `--set engine.pattern=p2p`: 817 MiB at 30,000 subscriptions, 2,837 at 100,000 and 6,090 at
# 200,000 (and 1,316 at 50,000 in a run without the report), 20.3 to 30.0 KiB a subscription,
# about 3.4 KiB more each time the peak doubles. Set above each of those (21.5, 24.3, 28.1 and
# 31.9 KiB).
P2P_UNBOUNDED_KIB_AT_30K = 21.5
P2P_UNBOUNDED_KIB_PER_DOUBLING = 3.8
# A `receiver_down` fault, whole runs measured the same way (2026-11-28, after the fault table
# stopped joining every failed try): receiver-down (six hours) 461 MiB at 30,000 subscriptions, 938
# at 100,000 and 1,562 at 200,000; receiver-down-long (four days) 577, 1,396 and 2,387: 6.9 to 12.2
# KiB a subscription, set above the most. (Before that fix: 751, 1,845 and 3,555 for the long one.)
RECEIVER_DOWN_KIB = 12.5
_SECONDS_PER_DAY = 86400.0
# Gap-fill's cost per subscription and sweep, in microseconds: missing-master-data over 10 days
# (1,300 subscriptions, 14,060 sweeps a minute apart) simulated in 7.53 s against 0.83 s with the
# default six hours (2026-11-28, this machine), 0.37 us per subscription and sweep.
GAP_FILL_US_PER_SUBSCRIPTION_SWEEP = 0.4
# Warn when the sweeps alone would take longer than this: a minute is already longer than the
# simulation of a 100,000-subscription month-end.
GAP_FILL_WARN_S = 60.0


def subscriptions_max(scenario: Scenario) -> int:
    """The book plus every new deal the traffic window can bring."""
    traffic = scenario.traffic
    return traffic.subscriptions + math.ceil(traffic.new_deals_per_day * scenario.run.traffic_days)


def renewal_peaks(scenario: Scenario) -> int:
    """The month starts inside the traffic window (at least one: a window without a 1st still
    renews the subscriptions anchored elsewhere)."""
    month_start_s = month_start_at_or_after_s(scenario.run.start_s)
    window_end_s = scenario.run.window_end_s
    peaks = 0
    while month_start_s < window_end_s:
        peaks += 1
        month_start_s = month_start_at_or_after_s(month_start_s + _SECONDS_PER_DAY)
    return max(1, peaks)


def subscription_peak_kib(scenario: Scenario) -> float:
    """What a subscription costs at a renewal peak under the scenario's engine and faults, in KiB.

    Two things cost more. The point-to-point handler without a backlog limit: every request the
    sender gave up on still waits for a worker (a coroutine, a SimPy process, the ERP document),
    and the sender retries, so the waiting grows with the peak and the cost per subscription with
    it. And a receiver that is down: the sender holds every event and its next try, and the trace
    of every failed try makes the reconciliation's frames larger. Where both apply, the larger."""
    return _peak_cost(scenario)[0]


def _peak_cost(scenario: Scenario) -> tuple[float, str]:
    """`subscription_peak_kib` and why, for the refusal's message ("" for the general rate)."""
    costs = [(SUBSCRIPTION_PEAK_KIB, "")]
    if scenario.engine.pattern == "p2p" and scenario.engine.p2p.backlog_max is None:
        doublings = math.log2(subscriptions_max(scenario) / 30_000.0)
        costs.append((P2P_UNBOUNDED_KIB_AT_30K + P2P_UNBOUNDED_KIB_PER_DOUBLING * doublings,
                      " under p2p without engine.p2p.backlog_max"))
    if any(fault.kind == "receiver_down" for fault in scenario.faults):
        costs.append((RECEIVER_DOWN_KIB, " with a receiver_down fault"))
    return max(costs, key=lambda cost: cost[0])


def memory_estimate_mib(scenario: Scenario) -> float:
    """About how much memory one simulated run of `scenario` holds at its peak, in MiB."""
    return PROCESS_BASE_MIB + subscriptions_max(scenario) * renewal_peaks(scenario) * subscription_peak_kib(
        scenario) / 1024.0


def memory_available_mib() -> float:
    """Memory this machine can give a new process without swapping, in MiB (psutil's
    `virtual_memory().available`)."""
    return psutil.virtual_memory().available / (1024.0 * 1024.0)


def memory_problem(scenario: Scenario, processes: int = 1, available_mib: float | None = None,
                   skip_hint: str = "pass --no-memory-check") -> str | None:
    """Why `processes` simulated runs of `scenario` at once would not fit in memory, or None when
    they would. The message names the keys that size the run, and ends with `skip_hint`: how to
    run it anyway."""
    each_mib = memory_estimate_mib(scenario)
    needed_mib = each_mib * processes
    available_mib = memory_available_mib() if available_mib is None else available_mib
    if needed_mib <= available_mib:
        return None
    sizes = _sizes(scenario)
    need = (f"{processes} runs at once would need about {processes} x {_gib(each_mib)} at their peaks"
            if processes > 1 else f"the run would need about {_gib(each_mib)} at its peak")
    smaller = "fewer --workers, a smaller run" if processes > 1 else "make the run smaller"
    return (f"{sizes}; {need} ({_per_subscription(scenario)}), more "
            f"than the {_gib(available_mib)} this machine has available; {smaller}, or {skip_hint} to run anyway")


def _sizes(scenario: Scenario) -> str:
    """The keys that size a run, and the subscriptions and peaks they make."""
    traffic, run = scenario.traffic, scenario.run
    peaks = renewal_peaks(scenario)
    return (f"traffic.subscriptions={traffic.subscriptions:,}, traffic.new_deals_per_day="
            f"{traffic.new_deals_per_day:g} over run.traffic_days={run.traffic_days:g}: "
            f"{subscriptions_max(scenario):,} subscriptions, {peaks} renewal peak{'s' if peaks > 1 else ''}")


def _per_subscription(scenario: Scenario) -> str:
    kib, why = _peak_cost(scenario)
    return f"about {kib:.3g} KiB a subscription and peak{why}"


def _gib(mib: float) -> str:
    return f"{mib / 1024.0:,.1f} GiB"


def cluster_memory_problem(scenario: Scenario, workers: Mapping[str, tuple[int, float | None]], runs: int,
                           skip_hint: str = "pass --no-memory-check") -> str | None:
    """Why the workers of a Dask cluster could not hold `runs` simulated runs of `scenario`, or None.

    `workers` maps each worker's address to (threads, memory limit in MiB, or None for a worker
    without one). A worker runs up to one task per thread at once in its one process, and Dask
    restarts a worker that outgrows its limit, so each limited worker must hold the process's own
    memory plus its threads' runs (never more runs than the fan-out has)."""
    run_mib = memory_estimate_mib(scenario) - PROCESS_BASE_MIB
    short = []
    for address in sorted(workers):
        threads, limit_mib = workers[address]
        at_once = max(1, min(threads, runs))
        needed_mib = PROCESS_BASE_MIB + at_once * run_mib
        if limit_mib is not None and needed_mib > limit_mib:
            short.append((address, at_once, needed_mib, limit_mib))
    if not short:
        return None
    address, at_once, needed_mib, limit_mib = short[0]
    runs_text = f"{at_once} runs at once (one a thread;" if at_once > 1 else "one run (its process and"
    return (f"{_sizes(scenario)}; {len(short)} of the cluster's {len(workers)} workers cannot hold their "
            f"runs: {address} would need about {_gib(needed_mib)} for {runs_text} "
            f"{_per_subscription(scenario)}), more than its memory limit of "
            f"{_gib(limit_mib)}; workers with more memory or fewer threads, a smaller run, or {skip_hint} "
            f"to run anyway")


def gap_fill_sweeps(scenario: Scenario) -> int:
    """How many gap-fill sweeps the traffic window holds (the drain adds more): 0 when the engine
    does not sweep (gap-fill off, or a pattern or outside engine that has none)."""
    engine = scenario.engine
    if engine.factory is not None or engine.pattern != "orchestrated" or not engine.gap_fill:
        return 0
    return int(scenario.run.traffic_days * _SECONDS_PER_DAY // engine.gap_fill_interval_s)


def gap_fill_seconds(scenario: Scenario) -> float:
    """About how long the traffic window's gap-fill sweeps take on the machine measured, in wall
    seconds: each lists what billing holds, which grows with the book and its renewals."""
    per_sweep_us = subscriptions_max(scenario) * renewal_peaks(scenario) * GAP_FILL_US_PER_SUBSCRIPTION_SWEEP
    return gap_fill_sweeps(scenario) * per_sweep_us / 1e6


def gap_fill_warning(scenario: Scenario) -> str | None:
    """Why the scenario's gap-fill sweeps will make the run slow, or None when they will not."""
    seconds = gap_fill_seconds(scenario)
    if seconds <= GAP_FILL_WARN_S:
        return None
    engine = scenario.engine
    return (f"engine.gap_fill_interval_s={engine.gap_fill_interval_s:g}: about {gap_fill_sweeps(scenario):,} "
            f"gap-fill sweeps over run.traffic_days={scenario.run.traffic_days:g}, each listing what billing "
            f"holds for up to {subscriptions_max(scenario):,} subscriptions; the sweeps alone may take "
            f"{_duration(seconds)}; a longer interval, or engine.gap_fill=false, makes the run faster")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"about {seconds:.0f} s"
    if seconds < 7200:
        return f"about {seconds / 60:.0f} minutes"
    return f"about {seconds / 3600:,.1f} hours"
