"""`Window.occurrence_count` counts what `Window.occurrences` lists, without listing it: the loader
uses it to refuse a window recurring millions of times."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from rehearse.sim.faults import Window
from rehearse.sync.model import format_utc

START_S = 1_769_904_000  # 2026-02-01T00:00:00Z


# No deadline: a window every second over two days lists 170,000 occurrences, which took over 200 ms
# on the shared machine with the suite on both cores.
@settings(deadline=None)
@given(every_s=st.integers(1, 5_000), duration_fraction=st.integers(1, 100), ends=st.booleans(),
       end_after_s=st.integers(1, 200_000), since_offset_s=st.one_of(st.none(), st.integers(-50_000, 150_000)),
       until_offset_s=st.integers(-10_000, 200_000))
def test_the_count_is_the_length_of_the_listing(every_s, duration_fraction, ends, end_after_s, since_offset_s,
                                                until_offset_s):
    duration_s = max(1, every_s * duration_fraction // 100)
    window = Window(start=format_utc(START_S), every_s=float(every_s), duration_s=float(duration_s),
                    end=format_utc(START_S + end_after_s) if ends else None)
    since_s = -math.inf if since_offset_s is None else float(START_S + since_offset_s)
    until_s = float(START_S + until_offset_s)
    assert window.occurrence_count(until_s, since_s) == len(window.occurrences(until_s, since_s))


@given(end_after_s=st.integers(1, 100_000), since_offset_s=st.integers(-200_000, 200_000),
       until_offset_s=st.integers(-200_000, 200_000))
def test_a_window_that_does_not_recur_counts_once_or_never(end_after_s, since_offset_s, until_offset_s):
    window = Window(start=format_utc(START_S), end=format_utc(START_S + end_after_s))
    since_s, until_s = float(START_S + since_offset_s), float(START_S + until_offset_s)
    assert window.occurrence_count(until_s, since_s) == len(window.occurrences(until_s, since_s))
