"""`fault_table` counts what a direct reading of its definition counts: per fault kind, the tries,
the distinct ids hit, those the engine had to post (queued) and had not posted before the kind first
hit them, and those of them posted in the end, however often each id was hit, queued or posted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rehearse.reports.faults import fault_table
from rehearse.reports.frame import KindFrames, trace_frame

ids = st.sampled_from(["in_1", "in_2", "ch_1", "ch_2", "sub_1", "engine", ""])
kinds = st.sampled_from(["receiver_down", "throttle", "webhook_drop"])
injected = st.lists(st.tuples(st.integers(1, 100), kinds, ids), max_size=30)


@given(injected, st.lists(ids, max_size=8), st.lists(st.tuples(st.integers(1, 100), ids), max_size=8))
def test_the_fault_table_counts_each_id_once_per_kind(hits, queued, posts):
    records = [{"t_s": float(t_s), "kind": "fault.injected", "code": kind, "object_id": object_id}
               for t_s, kind, object_id in hits]
    records += [{"t_s": 1.0, "kind": "engine.queued", "object_id": object_id} for object_id in queued]
    records += [{"t_s": float(t_s), "kind": "engine.posted", "object_id": object_id} for t_s, object_id in posts]
    expected = []
    for kind in sorted({kind for _, kind, _ in hits}):
        times = [t_s for t_s, hit_kind, _ in hits if hit_kind == kind]
        hit = {object_id for _, hit_kind, object_id in hits if hit_kind == kind}
        first_hit = {object_id: min(t for t, k, o in hits if k == kind and o == object_id) for object_id in hit}
        posted_before = {object_id for object_id in hit if any(o == object_id and t < first_hit[object_id]
                                                               for t, o in posts)}
        at_risk = (hit & set(queued)) - posted_before
        expected.append({
            "kind": kind, "injected": len(times), "affected": len(hit),
            "affected_postings": len(at_risk), "recovered": len(at_risk & {o for _, o in posts}),
            "first_t_s": float(min(times)), "last_t_s": float(max(times)),
        })
    assert fault_table(KindFrames(trace_frame(records))) == expected
