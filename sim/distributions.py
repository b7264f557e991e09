"""Latency distributions, sampled from a component's own random stream."""

from __future__ import annotations

import math
import random

_Z95 = 1.6448536269514722  # standard normal 95th percentile


class LogNormal:
    """A lognormal latency fixed by its median and 95th percentile, in milliseconds; samples are
    returned in seconds."""

    __slots__ = ("mu", "sigma", "rng")

    def __init__(self, p50_ms: float, p95_ms: float, rng: random.Random) -> None:
        self.mu = math.log(p50_ms / 1000.0)
        self.sigma = math.log(p95_ms / p50_ms) / _Z95 if p95_ms > p50_ms else 0.0
        self.rng = rng

    def sample_s(self) -> float:
        """One latency in seconds."""
        return self.rng.lognormvariate(self.mu, self.sigma) if self.sigma else math.exp(self.mu)
