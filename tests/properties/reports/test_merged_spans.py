"""`merged_spans` draws the same shading as its spans: every point of an input span is shaded, every
shaded point lies in an input span or in a gap narrower than the minimum, and the merged spans are
ordered and at least the minimum apart."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from rehearse.reports.plots import merged_spans

spans = st.lists(st.tuples(st.integers(0, 1_000), st.integers(0, 50)), max_size=40)


@given(spans, st.integers(0, 30))
def test_merged_spans_shade_what_the_spans_shade(drawn, gap_min):
    from_x = np.array([float(start) for start, _ in drawn])
    to_x = np.array([float(start + length) for start, length in drawn])
    merged = merged_spans(from_x, to_x, float(gap_min))
    assert all(a_to + gap_min <= b_from and a_to < b_from for (_, a_to), (b_from, _) in zip(merged, merged[1:]))
    assert all(span_from <= span_to for span_from, span_to in merged)

    def shaded(x: float) -> bool:
        return any(span_from <= x <= span_to for span_from, span_to in merged)

    for start, length in drawn:  # every input point is shaded (integers and midpoints suffice here)
        assert all(shaded(start + half / 2) for half in range(2 * length + 1))
    for span_from, span_to in merged:  # every shaded point is in an input span or a narrow gap
        covered = sorted((start, start + length) for start, length in drawn
                         if start + length >= span_from and start <= span_to)
        assert covered[0][0] == span_from and max(end for _, end in covered) == span_to
        reach = covered[0][1]
        for start, end in covered[1:]:
            assert start <= reach or start - reach < gap_min
            reach = max(reach, end)
