"""The simulated feed: market time, the broker sees each bar first, pacing by sleeping."""

from __future__ import annotations

from strategy.clock import ManualClock
from strategy.types import Bar
from strategy.venues.sim_feed import SimFeed


def bars(n: int) -> list[Bar]:
    return [Bar("SPY", 60.0 * i, 1, 1, 1, 1, 1) for i in range(n)]


async def test_clock_and_observers_move_before_the_consumer_sees_the_bar() -> None:
    """When a bar arrives, the clock is at its end and the broker has already seen it."""
    clock = ManualClock()
    seen: list[float] = []
    feed = SimFeed(bars(3), clock, observers=[lambda b: seen.append(b.ts)])
    async for bar in feed.bars():
        assert clock.now() == bar.ts + 60
        assert seen[-1] == bar.ts
    assert feed.bars_emitted == 3 and feed.last_bar_ts == 120.0


async def test_pacing_sleeps_simulated_time_over_speed() -> None:
    """speed 600: one simulated minute between bars is a 0.1 s sleep."""
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)

    feed = SimFeed(bars(3), ManualClock(), speed=600, sleep=record)
    assert [b.ts async for b in feed.bars()] == [0.0, 60.0, 120.0]
    assert [d for d in delays if d] == [0.1, 0.1]  # plus a sleep(0) yield on the first bar


async def test_stop_ends_the_iteration() -> None:
    """stop() ends the feed at the next bar."""
    feed = SimFeed(bars(10), ManualClock())
    got = []
    async for bar in feed.bars():
        got.append(bar)
        if len(got) == 2:
            feed.stop()
    assert len(got) == 2
