"""The seed tree: one root seed derives a named, independent sub-seed per component, so adding a
component or drawing more in one never shifts the numbers another one sees."""

from __future__ import annotations

import hashlib
import random

_MASK64 = (1 << 64) - 1


def derive_seed(root_seed: int, name: str) -> int:
    """A 64-bit sub-seed for a named component (stable across Python versions and platforms)."""
    digest = hashlib.blake2b(f"{root_seed}/{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def stream(root_seed: int, name: str) -> random.Random:
    """An independent `random.Random` for a named component; never the global random state."""
    return random.Random(derive_seed(root_seed, name))


def mix64(value: int) -> int:
    """SplitMix64's finalizer: a fast, well-spread hash of an integer (for indexing pools)."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)
