"""A stable share of objects chosen by a hash of their id, not a draw: the same object is always in
or out, and no random stream moves (so a share of 0 changes no trace)."""

from __future__ import annotations

import zlib

__all__ = ["in_share"]


def in_share(object_id: str, share: float) -> bool:
    """Whether `object_id` is among a `share` (0 to 1) of all ids, to a ten-thousandth.

    Examples
    --------
    >>> in_share("cus_1", 0.0), in_share("cus_1", 1.0)
    (False, True)
    """
    return zlib.crc32(object_id.encode()) % 10_000 < share * 10_000
