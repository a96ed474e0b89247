"""The simulator's feed: moves market time, lets the simulated broker see each bar first,
and paces the replay (accelerated time) without ever blocking the event loop.

Market time is the data's own, so the feed may wait without losing anything: nights and
weekends are crossed at once whatever the speed, and while `hold_while`'s check says so (the
journal fell behind) the next bar waits, so a replay's orders do not depend on the machine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence

from strategy.clock import ManualClock
from strategy.market_day import day_bounds
from strategy.types import Bar

HOLD_POLL_SEC = 0.005  # how often a held feed asks again


def _never_held() -> bool:
    return False


class SimFeed:
    def __init__(
        self,
        source: Iterable[Bar],
        clock: ManualClock,
        observers: Sequence[Callable[[Bar], None]] = (),
        speed: float | None = None,
        bar_sec: int = 60,
        yield_every: int = 1000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._clock = clock
        self._observers = tuple(observers)
        self._speed = speed
        self._bar_sec = bar_sec
        self._yield_every = yield_every
        self._sleep = sleep
        self._monotonic = monotonic
        self._stopped = False
        self._held: Callable[[], bool] = _never_held
        self._last_bar_ts: float | None = None
        self._emitted = 0

    @property
    def last_bar_ts(self) -> float | None:
        return self._last_bar_ts

    @property
    def bars_emitted(self) -> int:
        return self._emitted

    def stop(self) -> None:
        self._stopped = True

    def hold_while(self, check: Callable[[], bool]) -> None:
        """Before each bar, wait (without blocking the event loop) while `check()` is true."""
        self._held = check

    async def bars(self) -> AsyncIterator[Bar]:
        """Paced against a fixed schedule (first bar's time + market time / speed), so the
        consumer's own work does not slow the replay down; the schedule starts again at the
        first bar of each New York day, so the night before it takes no time."""
        previous: float | None = None
        first_ts, started, day_end = 0.0, 0.0, 0.0
        for bar in self._source:
            while self._held() and not self._stopped:
                await self._sleep(HOLD_POLL_SEC)
            if self._stopped:
                return
            if self._speed and bar.ts >= day_end:
                first_ts, started, day_end = bar.ts, self._monotonic(), day_bounds(bar.ts)[1]
                await self._sleep(0)
            elif self._speed and previous is not None and bar.ts > previous:
                due = started + (bar.ts - first_ts) / self._speed
                await self._sleep(max(0.0, due - self._monotonic()))
            elif bar.ts != previous or self._emitted % self._yield_every == 0:
                await self._sleep(0)  # orders decided on the last minute reach the market first
            previous = bar.ts
            self._clock.set(bar.ts + self._bar_sec)
            for observe in self._observers:
                observe(bar)
            self._last_bar_ts = bar.ts
            self._emitted += 1
            yield bar
