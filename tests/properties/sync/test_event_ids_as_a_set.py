"""`EventIds` is a set of strings: any sequence of adds, discards and lookups agrees with `set`,
whatever the ids look like (counted, zero-padded, random, more stems than it has bitmaps for)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rehearse.sync import event_ids as event_ids_module
from rehearse.sync.event_ids import EventIds

stems = st.sampled_from(["evt_", "ev", "", "x1_", "evt_1NqX", "a", "b", "c"])
# Small counters, a large one, and more digits than a bitmap takes (the unit tests try the
# largest counted one: its bitmap is 12.5 MB, too slow to make hundreds of times).
counters = st.integers(min_value=0, max_value=5000).map(str) | st.sampled_from(
    ["0", "00", "007", "10", "999999", "100000000", "123456789"])
ids = st.builds(lambda stem, counter: stem + counter, stems, counters) | st.text(alphabet="evt_019aZ", max_size=8)
operations = st.lists(st.tuples(st.sampled_from(["add", "discard", "contains"]), ids), max_size=80)


@settings(max_examples=300, deadline=None)
@given(operations, st.integers(min_value=0, max_value=3))
def test_event_ids_agree_with_a_set(operations_list, stems_max):
    original = event_ids_module.STEMS_MAX
    event_ids_module.STEMS_MAX = stems_max  # few bitmaps: the overflow into the plain set is walked too
    try:
        compact, plain = EventIds(), set()
        for operation, event_id in operations_list:
            if operation == "add":
                assert compact.add_new(event_id) == (event_id not in plain)
                plain.add(event_id)
            elif operation == "discard":
                compact.discard(event_id)
                plain.discard(event_id)
            assert (event_id in compact) == (event_id in plain)
            assert len(compact) == len(plain)
        assert set(compact) == plain
        assert compact == plain
    finally:
        event_ids_module.STEMS_MAX = original
