"""The simulator keeps New York session hours (09:30-16:00, weekdays), as `backtest
--synthetic` does: nights and weekends are crossed at once, and a day's P&L starts with its
session, never at midnight in the middle of one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime, time
from pathlib import Path

from bot.venues import build_sim
from ops.config.settings import load_settings
from ops.journal.journal import Journal
from strategy.clock import Clock, ManualClock
from strategy.market_day import NEW_YORK
from strategy.venues.bars import synthetic_bars
from strategy.venues.sim_feed import SimFeed
from tests.support import eventually, write_config
from tests.test_sim_feed import FakeTime

SYMBOLS = ["SPY", "QQQ", "IWM"]
PER_SESSION = 390  # minute bars from 09:30 to 16:00


def _local(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, NEW_YORK)


def _in_session(ts: float) -> bool:
    local = _local(ts)
    return local.weekday() < 5 and time(9, 30) <= local.time() < time(16, 0)


def _ny(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK).timestamp()


async def test_the_simulator_trades_session_hours_only(tmp_path: Path) -> None:
    """`make run`'s venue: every bar lies in a weekday session, 390 a session per symbol, the
    first at the latest session open."""
    settings = load_settings(write_config(tmp_path, **{"strategy.symbols": SYMBOLS}))
    venue = build_sim(settings, None, 0)
    first = venue.clock.now()
    seen: list[float] = []
    async for bar in venue.feed.bars():
        seen.append(bar.ts)
        if len(seen) == 3 * PER_SESSION * len(SYMBOLS):
            break
    assert seen[0] == first and _local(first).time() == time(9, 30)
    assert all(_in_session(ts) for ts in seen), [_local(t) for t in seen if not _in_session(t)][:3]
    per_day = Counter(_local(ts).date() for ts in seen)
    assert list(per_day.values()) == [PER_SESSION * len(SYMBOLS)] * 3


async def test_speed_compresses_the_session_and_the_night_takes_no_time() -> None:
    """At speed 600 two sessions take 2 x 389 minutes / 600 of sleep: the night between them
    (17.5 hours, 105 s at that speed) is not waited out."""
    wall = FakeTime()
    bars = synthetic_bars(["SPY"], 3, _ny("2026-12-03T09:30"), count=2 * PER_SESSION, sessions=True)
    feed = SimFeed(bars, ManualClock(), speed=600, sleep=wall.sleep, monotonic=wall)
    emitted = [b.ts async for b in feed.bars()]
    assert len(emitted) == 2 * PER_SESSION
    assert abs(sum(wall.sleeps) - 2 * 389 * 60 / 600) < 1e-6


class DayStarts(Journal):
    """The journal, noting the market time at which each trading day's P&L started."""

    def __init__(self, path: Path, clock: Clock) -> None:
        super().__init__(path)
        self._clock = clock
        self.started: list[tuple[str, float]] = []

    def record(self, table: str, row: Mapping[str, object]) -> None:
        if table == "day_start":
            self.started.append((str(row["day"]), self._clock.now()))
        super().record(table, row)


async def test_day_pnl_resets_between_sessions_not_in_one(tmp_path: Path) -> None:
    """The service on the simulator for three sessions: each day's P&L starts at its session's
    first bar (09:30-09:31 New York of that weekday), never at midnight mid-run."""
    settings = load_settings(write_config(tmp_path, **{"strategy.symbols": SYMBOLS}))
    venue = build_sim(settings, None, 0)
    journal = DayStarts(tmp_path / "journal.db", venue.clock)
    journal.start()
    service = venue.account(settings, journal).service
    venue.hold_feed_while(journal.behind)
    feed = venue.feed
    assert isinstance(feed, SimFeed)
    await service.start()
    try:
        await eventually(lambda: feed.bars_emitted >= 3 * PER_SESSION * len(SYMBOLS), within=120)
    finally:
        await service.stop()
    for day, at in journal.started:
        local = _local(at)
        assert local.date().isoformat() == day and local.weekday() < 5
        assert time(9, 30) <= local.time() <= time(9, 31), (day, local)
    assert len(journal.started) >= 3, journal.started  # one a session
