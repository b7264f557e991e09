"""`EventIds`: counted ids go to bitmaps, everything else to a plain set, and both answer exactly."""

from __future__ import annotations

from rehearse.sync.event_ids import STEMS_MAX, EventIds


def test_counted_ids_are_bits_and_others_strings():
    seen = EventIds(["evt_1", "evt_2", "evt_99999999"])
    assert seen.add_new("evt_3") and not seen.add_new("evt_3")
    assert seen._others == set()
    assert len(seen._bits["evt_"]) <= 99999999 // 8 * 2  # grown for the largest counter
    for other in ("evt_007", "evt_123456789", "evt_abc", "", "evt_"):
        assert seen.add_new(other) and other in seen
    assert seen._others == {"evt_007", "evt_123456789", "evt_abc", "", "evt_"}
    assert "evt_7" not in seen and "evt_07" not in seen  # a zero-padded id is not its number
    assert len(seen) == 9


def test_a_zero_counter_and_single_digits_are_counted():
    seen = EventIds(["evt_0", "0", "7"])
    assert "evt_0" in seen and "0" in seen and "7" in seen and "00" not in seen
    assert seen._others == set()


def test_stems_beyond_the_limit_go_to_the_plain_set():
    ids = [f"s{index}_1" for index in range(STEMS_MAX + 3)]
    seen = EventIds(ids)
    assert len(seen._bits) == STEMS_MAX
    assert seen._others == set(ids[STEMS_MAX:])
    assert all(event_id in seen for event_id in ids) and len(seen) == len(ids)


def test_discard_iterate_and_compare():
    seen = EventIds(["evt_5", "evt_12", "other"])
    seen.discard("evt_5")
    seen.discard("evt_6")  # absent: nothing happens
    seen.discard("missing")
    assert sorted(seen) == ["evt_12", "other"]
    assert seen == {"evt_12", "other"} and {"evt_12"} <= seen
    assert 5 not in seen
    assert repr(seen) == "EventIds(2 ids)"
