"""Rolling statistics of log returns over the last `lookback` closes, O(1) per bar.

Matches the article's per-bar numpy computation exactly (population std, 1e-8 guard):
    returns = diff(log(last `lookback` closes)); vol = std(returns[-vol_window:]) * sqrt(252*390)
    z = (returns[-1] - mean(returns)) / (std(returns) + 1e-8)
Running sums are kept for the z window and the vol window; a ring buffer holds up to
`capacity` returns so the window can be resized without losing history. The sums are
recomputed exactly every `capacity` updates, and whenever a large return leaves a window,
which bounds floating-point drift (amortized O(1)).
"""

from __future__ import annotations

import math
from typing import Protocol

ANNUALIZATION = math.sqrt(252 * 390)
EPSILON = 1e-8
# When a return leaving the window dwarfs what remains, subtracting it leaves rounding noise
# comparable to the remaining variance: recompute exactly instead.
CANCELLATION_RATIO = 1e4


class SignalStats(Protocol):
    """What the engine reads of a symbol's statistics after each bar."""

    @property
    def ready(self) -> bool: ...
    @property
    def z(self) -> float: ...
    @property
    def vol(self) -> float: ...
    def update(self, close: float) -> None: ...
    def resize(self, lookback: int) -> None: ...


class RollingStats:
    __slots__ = (
        "_buffer",
        "_capacity",
        "_count",
        "_head",
        "_last_close",
        "_lookback",
        "_since_exact",
        "_sum",
        "_sumsq",
        "_vol_sum",
        "_vol_sumsq",
        "_vol_window",
    )

    def __init__(self, lookback: int, vol_window: int = 10, capacity: int = 500) -> None:
        if not 3 <= lookback <= capacity:
            raise ValueError(f"lookback must be 3..{capacity}, got {lookback}")
        if not 2 <= vol_window <= lookback - 1:
            raise ValueError(f"vol_window must be 2..{lookback - 1}, got {vol_window}")
        self._capacity = capacity
        self._lookback = lookback
        self._vol_window = vol_window
        self._buffer = [0.0] * capacity  # log returns, ring
        self._head = 0  # index of the next write
        self._count = 0  # returns stored (<= capacity)
        self._last_close: float | None = None
        self._since_exact = 0
        self._sum = self._sumsq = self._vol_sum = self._vol_sumsq = 0.0

    @property
    def lookback(self) -> int:
        return self._lookback

    @property
    def count(self) -> int:
        """Closes seen, capped at capacity + 1."""
        return self._count + (self._last_close is not None)

    @property
    def ready(self) -> bool:
        return self._count >= self._lookback - 1

    @property
    def last_close(self) -> float | None:
        return self._last_close

    def _back(self, k: int) -> float:
        """The return k steps back (k=1 is the newest)."""
        return self._buffer[(self._head - k) % self._capacity]

    def update(self, close: float) -> None:
        # The hot path of every bar: attribute reads are hoisted into locals on purpose.
        if not close > 0:
            raise ValueError(f"close must be > 0, got {close}")
        previous = self._last_close
        self._last_close = close
        if previous is None:
            return
        r = math.log(close / previous)
        buffer, capacity, head, count = self._buffer, self._capacity, self._head, self._count
        n, v = self._lookback - 1, self._vol_window
        total, total_sq = self._sum, self._sumsq
        vol_total, vol_total_sq = self._vol_sum, self._vol_sumsq
        cancelling = False
        if count >= n:
            old = buffer[(head - n) % capacity]
            total -= old
            total_sq -= old * old
            cancelling = old * old > CANCELLATION_RATIO * total_sq
        if count >= v:
            old = buffer[(head - v) % capacity]
            vol_total -= old
            vol_total_sq -= old * old
            cancelling = cancelling or old * old > CANCELLATION_RATIO * vol_total_sq
        buffer[head] = r
        self._head = (head + 1) % capacity
        if count < capacity:
            self._count = count + 1
        rr = r * r
        self._sum, self._sumsq = total + r, total_sq + rr
        self._vol_sum, self._vol_sumsq = vol_total + r, vol_total_sq + rr
        self._since_exact += 1
        if cancelling or self._since_exact >= capacity:
            self._recompute()

    def resize(self, lookback: int) -> None:
        if not 3 <= lookback <= self._capacity:
            raise ValueError(f"lookback must be 3..{self._capacity}, got {lookback}")
        if not self._vol_window <= lookback - 1:
            raise ValueError(f"lookback must exceed vol_window {self._vol_window}")
        self._lookback = lookback
        self._recompute()

    def _recompute(self) -> None:
        window = [self._back(k) for k in range(1, min(self._count, self._lookback - 1) + 1)]
        vol = window[: self._vol_window]
        self._sum = math.fsum(window)
        self._sumsq = math.fsum(x * x for x in window)
        self._vol_sum = math.fsum(vol)
        self._vol_sumsq = math.fsum(x * x for x in vol)
        self._since_exact = 0

    @staticmethod
    def _std(total: float, total_sq: float, n: int) -> float:
        mean = total / n
        return math.sqrt(max(total_sq / n - mean * mean, 0.0))

    @property
    def mean(self) -> float:
        return self._sum / (self._lookback - 1) if self.ready else math.nan

    @property
    def std(self) -> float:
        return self._std(self._sum, self._sumsq, self._lookback - 1) if self.ready else math.nan

    @property
    def z(self) -> float:
        n = self._lookback - 1
        if self._count < n:
            return math.nan
        mean = self._sum / n
        std = math.sqrt(max(self._sumsq / n - mean * mean, 0.0))
        return (self._buffer[self._head - 1] - mean) / (std + EPSILON)

    @property
    def vol(self) -> float:
        if not self.ready:
            return math.nan
        return self._std(self._vol_sum, self._vol_sumsq, self._vol_window) * ANNUALIZATION
