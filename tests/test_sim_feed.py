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


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.t += delay


async def test_pacing_sleeps_simulated_time_over_speed() -> None:
    """speed 600: one simulated minute between bars is a 0.1 s sleep."""
    wall = FakeTime()
    feed = SimFeed(bars(3), ManualClock(), speed=600, sleep=wall.sleep, monotonic=wall)
    assert [b.ts async for b in feed.bars()] == [0.0, 60.0, 120.0]
    assert [d for d in wall.sleeps if d] == [0.1, 0.1]  # plus a sleep(0) yield on the first bar


async def test_the_consumers_work_does_not_slow_the_replay() -> None:
    """A consumer that spends 0.04 s per bar still gets a bar every 0.1 s, and one that falls
    behind gets the next bar at once (after a yield to the loop)."""
    wall = FakeTime()
    feed = SimFeed(bars(4), ManualClock(), speed=600, sleep=wall.sleep, monotonic=wall)
    async for bar in feed.bars():
        wall.t += 0.04 if bar.ts < 120 else 0.5
    assert [round(d, 9) for d in wall.sleeps] == [0.0, 0.06, 0.06, 0.0]


async def test_stop_ends_the_iteration() -> None:
    """stop() ends the feed at the next bar."""
    feed = SimFeed(bars(10), ManualClock())
    got = []
    async for bar in feed.bars():
        got.append(bar)
        if len(got) == 2:
            feed.stop()
    assert len(got) == 2
