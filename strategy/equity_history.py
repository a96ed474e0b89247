"""The book's equity over time: each trading day's starting equity (the loss budget's base),
the peak (the drawdown's), the curve (a ring) and the equity rows journaled."""

from __future__ import annotations

from collections import deque

from strategy.recorder import Recorder

# With nothing changed, an equity snapshot is journaled at most this often (market time):
# a flat book does not write the same row every minute.
EQUITY_IDLE_SEC = 3_600.0
FIGURES = ("equity", "cash", "realized", "unrealized", "drawdown")


class EquityHistory:
    def __init__(self, starting_equity: float, recorder: Recorder, curve_len: int) -> None:
        self._recorder = recorder
        self.day = ""
        self.day_start_equity = starting_equity
        self.peak = starting_equity
        self._curve: deque[tuple[float, float]] = deque(maxlen=curve_len)
        self._journaled: tuple[float, tuple[float, ...]] | None = None  # (ts, figures)

    def start_day(self, day: str, equity: float) -> None:
        """The first look at trading day `day` (New York date) fixes its starting equity; a
        later call for the same day (a restart that restored it) changes nothing."""
        if day == self.day:
            return
        self.day, self.day_start_equity = day, equity
        self._recorder.record("day_start", {"day": day, "equity": equity})

    def drawdown(self, equity: float) -> float:
        return max(0.0, (self.peak - equity) / self.peak) if self.peak > 0 else 0.0

    def snapshot(
        self, ts: float, equity: float, cash: float, realized: float, unrealized: float
    ) -> None:
        """The curve gets every snapshot; the journal a row when a figure changed, or after
        EQUITY_IDLE_SEC of the same figures."""
        self.peak = max(self.peak, equity)
        self._curve.append((ts, equity))
        figures = (equity, cash, realized, unrealized, self.drawdown(equity))
        last = self._journaled
        if last is not None and last[1] == figures and ts - last[0] < EQUITY_IDLE_SEC:
            return
        self._journaled = (ts, figures)
        self._recorder.record("equity", {"ts": ts, **dict(zip(FIGURES, figures, strict=True))})

    @property
    def curve(self) -> list[tuple[float, float]]:
        return list(self._curve)
