"""Micro-benchmarks behind two of the peak's design choices; prints one JSON line.

- ``heap_pop_push_us``: one `heapq.heappop` and one `heappush` on SimPy's kind of event heap
  (entries ``(time, priority, event id, event)``), by heap size. Why billing's finalizations wait
  in a `rehearse.fakes.delay_line.DelayLine` instead of a timer each: at a million subscriptions
  720,000 of them were pending at once.
- ``transpose_us_per_row``: turning a chunk of trace records into columns, as tuples transposed
  with ``zip(*rows)`` against one flat list sliced per column (`rehearse.sim.recorder`).

    uv run python bench/micro.py
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import sys
import time

HEAP_SIZES = (2_000, 100_000, 720_000)
OPERATIONS = 500_000
ROWS = 50_000  # one recorder chunk
RECORD = ("evt_1234567", "in_765432", "invoice.paid", "US01", "USD", 12_500)  # a typical record's fields


def heap_pop_push_us(size: int, rng: random.Random) -> float:
    """Microseconds for one pop and one push on a heap of `size` pending timers."""
    eid = itertools.count()
    heap = [(1.77e9 + rng.random() * 3600.0, 1, next(eid), None) for _ in range(size)]
    heapq.heapify(heap)
    delays = [rng.random() * 3600.0 for _ in range(OPERATIONS)]
    started = time.perf_counter()
    for delay_s in delays:
        now_s, _, _, event = heapq.heappop(heap)
        heapq.heappush(heap, (now_s + delay_s, 1, next(eid), event))
    return (time.perf_counter() - started) / OPERATIONS * 1e6


def transpose_us_per_row() -> dict[str, float]:
    """Microseconds per record to get a chunk's columns from tuples and from one flat list."""
    tuples = [(sequence, 1.77e9 + sequence, *RECORD) for sequence in range(ROWS)]
    flat = [value for row in tuples for value in row]
    width = len(tuples[0])
    started = time.perf_counter()
    by_zip = list(zip(*tuples))
    zipped_s = time.perf_counter() - started
    started = time.perf_counter()
    by_slice = [flat[index::width] for index in range(width)]
    sliced_s = time.perf_counter() - started
    assert [list(column) for column in by_zip] == by_slice
    return {"zip": round(zipped_s / ROWS * 1e6, 3), "flat_slices": round(sliced_s / ROWS * 1e6, 3)}


def main() -> int:
    rng = random.Random(1)
    print(json.dumps({
        "heap_pop_push_us": {str(size): round(heap_pop_push_us(size, rng), 2) for size in HEAP_SIZES},
        "transpose_us_per_row": transpose_us_per_row(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
