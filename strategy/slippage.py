"""Realized slippage in bounded memory: streaming mean and deviation over every fill (Welford),
plus the most recent samples for the percentile and the histogram."""

from __future__ import annotations

import math
from collections import deque

from strategy.types import Side
from strategy.value_type import value_type

SAMPLE_SIZE = 4_096  # recent fills kept for p95 and the histogram


@value_type  # one per fill
class SlippageSample:
    symbol: str
    side: Side
    bps: float
    qty: int
    ts: float


class SlippageStats:
    """Count, mean and population standard deviation of every measurable fill's slippage (a
    fill without a decision price has none), in O(1) memory; `recent` holds the last
    `sample_size` samples."""

    def __init__(self, sample_size: int = SAMPLE_SIZE) -> None:
        self.count = 0
        self.mean = math.nan
        self._m2 = 0.0
        self._recent: deque[SlippageSample] = deque(maxlen=sample_size)

    def add(self, sample: SlippageSample) -> None:
        if math.isnan(sample.bps):
            return
        self._recent.append(sample)
        self.count += 1
        if self.count == 1:
            self.mean, self._m2 = sample.bps, 0.0
            return
        delta = sample.bps - self.mean
        self.mean += delta / self.count
        self._m2 += delta * (sample.bps - self.mean)

    @property
    def std(self) -> float:
        return math.sqrt(self._m2 / self.count) if self.count else math.nan

    @property
    def recent(self) -> list[SlippageSample]:
        """The last samples, oldest first (a copy of at most `sample_size`)."""
        return list(self._recent)
