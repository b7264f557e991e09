"""Micro-benchmarks behind four of the peak's design choices; prints one JSON line.

- ``heap_pop_push_us``: one `heapq.heappop` and one `heappush` on SimPy's kind of event heap
  (entries ``(time, priority, event id, event)``), by heap size. Why billing's finalizations wait
  in a `rehearse.fakes.delay_line.DelayLine` instead of a timer each: at a million subscriptions
  720,000 of them were pending at once.
- ``transpose_us_per_row``: turning a chunk of trace records into columns, as tuples transposed
  with ``zip(*rows)`` against one flat list sliced per column (`rehearse.sim.recorder`).
- ``record_us_per_row``: tracing a chunk of oracle records with one `TraceRecorder.emit` call each
  against one `TraceRecorder.emit_columns` call (the oracle's way at the cut-off: two million
  records at a million subscriptions); both include turning the chunk into a polars frame.
- ``keyword_call_us``: a call with twelve keywords (an ``erp.document`` record) into a function
  that takes ``**fields`` against one that names them as keyword-only parameters, as
  `TraceRecorder.emit` does: the first builds a dict per call.

    uv run python bench/micro.py
"""

from __future__ import annotations

import gc
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


def record_us_per_row() -> dict[str, float]:
    """Microseconds per record to trace a chunk of records (`ROWS`, so the recorder turns them into
    a frame at the last one) one call each and as columns."""
    from rehearse.sim.recorder import TraceRecorder

    names = ("object_id", "ref_id", "code", "entity", "currency", "amount_minor")
    columns = {name: [RECORD[index]] * ROWS for index, name in enumerate(names)}
    one_by_one, by_columns = TraceRecorder(), TraceRecorder()
    gc.disable()  # as during a simulation (`rehearse.sim.runner.simulate`)
    started = time.perf_counter()
    emit = one_by_one.emit
    for row in zip(*columns.values()):
        emit(1.77e9, "oracle.payment", object_id=row[0], ref_id=row[1], code=row[2], entity=row[3],
             currency=row[4], amount_minor=row[5])
    one_by_one_s = time.perf_counter() - started
    started = time.perf_counter()
    by_columns.emit_columns(1.77e9, "oracle.payment", **columns)
    by_columns_s = time.perf_counter() - started
    gc.enable()
    assert one_by_one.frame().equals(by_columns.frame())
    return {"emit": round(one_by_one_s / ROWS * 1e6, 3), "emit_columns": round(by_columns_s / ROWS * 1e6, 3)}


def _into_dict(t_s, kind, **fields):
    return fields


def _into_parameters(t_s, kind, *, object_id="", ref_id="", parent_id="", entity="", currency="", amount_minor=0,
                     tax_minor=0, debit_minor=0, credit_minor=0, period="", code="", detail="", value=0.0):
    return object_id


def keyword_call_us() -> dict[str, float]:
    """Microseconds for one call with twelve keywords, into ``**fields`` and into parameters."""
    result = {}
    for name, function in (("into_dict", _into_dict), ("into_parameters", _into_parameters)):
        started = time.perf_counter()
        for _ in range(OPERATIONS):
            function(1.77e9, "erp.document", object_id="erp_1", ref_id="in_1", parent_id="cus_1", entity="US01",
                     currency="USD", amount_minor=100, tax_minor=8, debit_minor=108, credit_minor=108,
                     period="2026-02", code="invoice", detail="1769904000-1772323200")
        result[name] = round((time.perf_counter() - started) / OPERATIONS * 1e6, 3)
    return result


def main() -> int:
    rng = random.Random(1)
    print(json.dumps({
        "heap_pop_push_us": {str(size): round(heap_pop_push_us(size, rng), 2) for size in HEAP_SIZES},
        "transpose_us_per_row": transpose_us_per_row(),
        "record_us_per_row": record_us_per_row(),
        "keyword_call_us": keyword_call_us(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
