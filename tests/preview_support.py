"""For the preview tests: recent sessions of synthetic bars, and session sources (our own
protocol) that hold, fail or count."""

from __future__ import annotations

import asyncio
import csv
from datetime import date
from pathlib import Path

from ops.backtest import history
from ops.backtest.sessions import RecentSessions, Sessions
from strategy.types import Bar
from strategy.venues.bars import COLUMNS

SYMBOLS = ["SPY", "QQQ", "IWM"]
TODAY = date(2026, 1, 14)  # a Wednesday: the sessions before it run Jan 2 .. Jan 13


def session_bars(days: int, seed: int = 5) -> list[Bar]:
    """`days` sessions (09:30-16:00 New York) of seeded minute bars before TODAY."""
    return history.synthetic(SYMBOLS, seed, days, today=TODAY)


def recorded(days: int, keep: int = 5) -> RecentSessions:
    """What a simulator's feed records after passing `days` sessions."""
    recent = RecentSessions(keep)
    for bar in session_bars(days):
        recent.observe(bar)
    return recent


def write_csv(path: Path, bars: tuple[Bar, ...] | list[Bar]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for b in bars:
            writer.writerow([b.ts, b.symbol, b.open, b.high, b.low, b.close, b.volume])
    return path


class HeldSessions:
    """Answers only once `release` is set (a slow history)."""

    def __init__(self, inner: RecentSessions) -> None:
        self.inner = inner
        self.release = asyncio.Event()

    async def last(self, count: int) -> Sessions:
        await self.release.wait()
        return await self.inner.last(count)


class BrokenSessions:
    """A history that cannot be read."""

    async def last(self, count: int) -> Sessions:
        raise RuntimeError("history store unreachable")
