"""Per-stage latency: a ring of the last samples per stage, percentiles on demand."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from strategy.clock import Clock
from strategy.recorder import Recorder

STAGES: tuple[str, ...] = ("ingest", "features", "decision", "submit", "ack")


@dataclass(frozen=True, slots=True)
class StageStats:
    stage: str
    count: int
    p50_us: float
    p90_us: float
    p99_us: float
    max_us: float


def nearest_rank(ordered: list[int], q: float) -> int:
    """The nearest-rank percentile: the smallest value with at least q of the samples <= it."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class _Ring:
    __slots__ = ("count", "values")

    def __init__(self, window: int) -> None:
        self.values: deque[int] = deque(maxlen=window)  # the newest `window` samples
        self.count = 0


class LatencyTracker:
    def __init__(
        self,
        recorder: Recorder | None = None,
        clock: Clock | None = None,
        window: int = 4096,
        sample_every: int = 100,
    ) -> None:
        self._recorder = recorder
        self._clock = clock
        self._sample_every = sample_every
        self._rings = {stage: _Ring(window) for stage in STAGES}

    def observe(self, stage: str, ns: int) -> None:
        ring = self._rings.get(stage)
        if ring is None:
            raise ValueError(f"unknown latency stage {stage!r}; known: {', '.join(STAGES)}")
        ring.values.append(ns)
        ring.count = count = ring.count + 1
        if count % self._sample_every == 0 and self._recorder is not None:
            ts = self._clock.now() if self._clock is not None else 0.0
            self._recorder.record("latency", {"ts": ts, "stage": stage, "ns": ns})

    def stats(self, stage: str) -> StageStats:
        ring = self._rings[stage]
        if not ring.values:
            return StageStats(stage, 0, math.nan, math.nan, math.nan, math.nan)
        ordered = sorted(ring.values)
        return StageStats(
            stage=stage,
            count=ring.count,
            p50_us=nearest_rank(ordered, 0.50) / 1e3,
            p90_us=nearest_rank(ordered, 0.90) / 1e3,
            p99_us=nearest_rank(ordered, 0.99) / 1e3,
            max_us=ordered[-1] / 1e3,
        )

    def summary(self) -> list[StageStats]:
        return [self.stats(stage) for stage in STAGES if self._rings[stage].values]
