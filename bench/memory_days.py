"""Figure 9: resident memory stays flat over simulated trading days. 1,000 symbols of minute
bars, 390 a day (09:30-16:00 New York), through the whole service (engine, simulated broker,
book, journal); RSS after day 1 and after day 8, each after a journal flush and a collection,
in a fresh child process. Risk limits are opened wide so that orders, fills and slippage pile
up as fast as the strategy makes them; freed memory is handed back to the system (malloc_trim)
before each reading, so RSS shows what is held, not the allocator's high-water mark."""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import gc
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.common import SEED, START, Figure, run_child, symbols
from bench.memory import rss_mb
from strategy.types import Bar
from strategy.venues.bars import synthetic_bars
from strategy.venues.sim_feed import SimFeed
from tests.support import eventually, make_harness

SYMBOLS = 1_000
DAYS = 8
MINUTES = 390
DAY_SEC = 86_400.0
TOLERANCE = 0.10
WIDE_OPEN = {
    "risk.max_orders_per_day": 100_000,
    "risk.max_orders_per_minute": 10_000,
    "risk.max_gross_exposure": 1e10,
    "risk.max_daily_loss_pct": 1.0,
    "monitoring.drawdown_halt_pct": 1.0,
}


def trading_days(
    names: tuple[str, ...], days: int, day_ended: Callable[[int], None]
) -> Iterator[Bar]:
    """One continuous price path cut into sessions on consecutive days; `day_ended(d)` runs
    once every bar of day d has been taken (so processed) by the consumer."""
    path = synthetic_bars(names, SEED, START, count=MINUTES * days)
    per_day = MINUTES * len(names)
    for i, b in enumerate(path):
        day, k = divmod(i, per_day)
        if k == 0 and day:
            day_ended(day)
        yield dataclasses.replace(b, ts=START + day * DAY_SEC + (k // len(names)) * 60.0)


async def _child(folder: Path) -> dict[str, float]:
    names = symbols(SYMBOLS)
    h = make_harness(folder, **{"strategy.symbols": list(names), **WIDE_OPEN})
    rss: dict[int, float] = {}
    libc = ctypes.CDLL("libc.so.6")

    def measure(day: int) -> None:
        h.journal.flush(timeout=600)
        gc.collect()
        libc.malloc_trim(0)
        rss[day] = rss_mb()

    h.clock.set(START)
    bars = trading_days(names, DAYS, measure)
    h.service.feed = SimFeed(bars, h.clock, observers=[h.broker.on_bar], speed=None)
    await h.service.start()
    await eventually(lambda: h.service.feed_ended, within=3600)
    measure(DAYS)
    result = {
        "day1": rss[1],
        "last": rss[DAYS],
        "bars": float(h.service.engine.counters.bars),
        "orders": float(h.service.engine.counters.orders),
        "fills": float(h.service.engine.counters.fills),
        "rows": float(h.journal.rows_written),
    }
    await h.service.stop()
    return result


def measure() -> Figure:
    print(f"  [9] {SYMBOLS} symbols x {MINUTES} minutes x {DAYS} days in a child process")
    r = run_child("bench.memory_days")
    growth = r["last"] / r["day1"] - 1
    print(
        f"      bars {r['bars']:,.0f}, orders {r['orders']:,.0f}, fills {r['fills']:,.0f}, "
        f"journal rows {r['rows']:,.0f}; "
        f"RSS after day 1 {r['day1']:.0f} MB, after day {DAYS} {r['last']:.0f} MB"
    )
    return Figure(
        9,
        f"RSS after {DAYS} simulated days",
        f"{r['last']:.0f} MB",
        f"{r['day1']:.0f} MB (after day 1)",
        f"{growth:+.1%}",
        f"within {TOLERANCE:.0%}",
        abs(growth) <= TOLERANCE,
    )


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_child(Path(sys.argv[1])))))
