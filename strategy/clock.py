"""Injected clocks: wall time for live trading, a settable clock for the simulator and tests."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Epoch seconds (UTC) in the market's timeline."""
        ...

    def monotonic_ns(self) -> int:
        """A monotonic nanosecond counter for latency stamps."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()


class ManualClock:
    """Market time that only moves when told to (by the simulated feed or a test).

    Latency stamps still come from the real monotonic counter unless `fixed_ns` is given,
    so the simulator measures real compute time.
    """

    def __init__(self, start: float = 0.0, fixed_ns: int | None = None) -> None:
        self._now = start
        self._fixed_ns = fixed_ns
        if fixed_ns is None:  # the hot path reads the real counter without a wrapper call
            self.monotonic_ns = time.monotonic_ns  # type: ignore[method-assign]

    def now(self) -> float:
        return self._now

    def set(self, ts: float) -> None:
        if ts > self._now:  # max(), without its call: several times a backtest's order
            self._now = ts

    def jump(self, ts: float) -> None:
        """Move to `ts`, backwards too: the first bar of a replay older than the time the
        clock was started at (before any bar, the start was only a guess)."""
        self._now = ts

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def monotonic_ns(self) -> int:
        if self._fixed_ns is not None:
            return self._fixed_ns
        return time.monotonic_ns()


class BarClock:
    """Market time = the end of the bar being decided. Partitions are consumed side by side, so
    this may step back (unlike ManualClock): each bar is judged on its own time."""

    def __init__(self) -> None:
        self._now = 0.0
        self.monotonic_ns = time.monotonic_ns

    def now(self) -> float:
        return self._now

    def set(self, ts: float) -> None:
        self._now = ts
