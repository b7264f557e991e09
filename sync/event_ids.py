"""The set of event ids an engine has seen, compact enough for a month-end peak.

Deduplicating by event id means remembering every id delivered: at a million subscriptions about
four million of them. As Python strings in a set they cost about 250 bytes per subscription (peak
RSS at 300,000 subscriptions, with and without this class), some 250 MB at a million, for ids that
are only ever asked "seen before?".

Providers number their events, so most ids are a fixed stem and a counter (``evt_1``, ``evt_2``,
...). `EventIds` keeps such an id as one bit of a bytearray per stem; every other id (a random
suffix, a leading zero that a number would not give back, a counter of more than
`COUNTER_DIGITS_MAX` digits, a stem beyond the first `STEMS_MAX`) goes to an ordinary set.
Membership is exact either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, MutableSet

_DIGITS = "0123456789"
_NONZERO_BYTE = re.compile(rb"[^\x00]")
# A counter of at most this many digits is kept as a bit: 10**8 ids make a 12.5 MB bytearray.
COUNTER_DIGITS_MAX = 8
# Bitmaps are for a provider's few id stems. Random ids that happen to end in digits would
# otherwise open a bitmap each; past this many stems the rest go to the plain set.
STEMS_MAX = 16


class EventIds(MutableSet[str]):
    """A set of event ids (strings): membership, adding, removing, iteration and length.

    Iteration yields the counted ids stem by stem in counter order, then the others in set order;
    the engine never iterates it (only tests and stores that reload do).

    Examples
    --------
    >>> seen = EventIds()
    >>> seen.add_new("evt_7"), seen.add_new("evt_7"), "evt_07" in seen, len(seen)
    (True, False, False, 1)
    """

    __slots__ = ("_bits", "_others", "_counted")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._bits: dict[str, bytearray] = {}
        self._others: set[str] = set()
        self._counted = 0
        self.update(ids)

    def add_new(self, event_id: str) -> bool:
        """Add `event_id`; True when it was not in the set before."""
        place = self._place(event_id, create=True)
        if place is None:
            if event_id in self._others:
                return False
            self._others.add(event_id)
            return True
        bits, byte, mask = place
        if byte >= len(bits):
            # Grown by half again each time, like a list: appends stay amortised O(1).
            bits.extend(bytes(byte + 1 - len(bits) + len(bits) // 2))
        if bits[byte] & mask:
            return False
        bits[byte] |= mask
        self._counted += 1
        return True

    def add(self, value: str) -> None:
        """Add an event id."""
        self.add_new(value)

    def update(self, ids: Iterable[str]) -> None:
        """Add every id of `ids`."""
        for event_id in ids:
            self.add_new(event_id)

    def discard(self, value: str) -> None:
        """Remove an event id if present."""
        place = self._place(value)
        if place is None:
            self._others.discard(value)
        else:
            bits, byte, mask = place
            if byte < len(bits) and bits[byte] & mask:
                bits[byte] &= ~mask & 0xFF
                self._counted -= 1

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        place = self._place(value)
        if place is None:
            return value in self._others
        bits, byte, mask = place
        return byte < len(bits) and bool(bits[byte] & mask)

    def __len__(self) -> int:
        return self._counted + len(self._others)

    def __iter__(self) -> Iterator[str]:
        for stem, bits in self._bits.items():
            for found in _NONZERO_BYTE.finditer(bits):  # skips the zero bytes in C
                byte, value = found.start(), found.group()[0]
                for bit in range(8):
                    if value & (1 << bit):
                        yield f"{stem}{byte * 8 + bit}"
        yield from self._others

    def __repr__(self) -> str:
        return f"EventIds({len(self)} ids)"

    def _place(self, event_id: str, create: bool = False) -> tuple[bytearray, int, int] | None:
        """Where a counted id's bit is (its stem's bitmap, byte, mask), the bitmap opened when
        `create`; None for an id kept in the plain set. A stem without a bitmap never gets one
        later unless it is new (stems are never dropped), so an id is always looked for where it
        was put."""
        stem = event_id.rstrip(_DIGITS)
        digits = len(event_id) - len(stem)
        if not 0 < digits <= COUNTER_DIGITS_MAX or (digits > 1 and event_id[len(stem)] == "0"):
            return None
        bits = self._bits.get(stem)
        if bits is None:
            if not create or len(self._bits) >= STEMS_MAX:
                return None
            bits = self._bits[stem] = bytearray()
        counter = int(event_id[len(stem):])
        return bits, counter >> 3, 1 << (counter & 7)
