"""Figure 6: resident memory with 1,000 symbols after a whole simulated New York session (390
minute bars per symbol, 09:30-16:00), through the whole service (engine, simulated broker,
book, journal) at the shipped config's limits. Measured in a fresh child process so that the
other benchmarks' garbage does not count. The bars are generated as they are taken, as they
would arrive live: the day's input is not held in memory and not counted. Reported: RSS at
the close (after a journal flush) and the peak RSS of the process (VmHWM)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from bench.common import SEED, START, Figure, run_child, symbols
from strategy.venues.bars import synthetic_bars
from strategy.venues.sim_feed import SimFeed
from tests.support import eventually, make_harness

SYMBOLS = 1_000
MINUTES = 390
TARGET_MB = 200.0


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory now (VmRSS) or at its peak (VmHWM), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


async def _child(folder: Path) -> dict[str, float]:
    names = symbols(SYMBOLS)
    h = make_harness(folder, **{"strategy.symbols": list(names)})
    before = rss_mb()
    bars = synthetic_bars(names, SEED, START, count=MINUTES)
    h.clock.set(START)
    h.service.feed = SimFeed(bars, h.clock, observers=[h.broker.on_bar], speed=None)
    await h.service.start()
    await eventually(lambda: h.service.feed_ended, within=600)
    await h.journal.aflush()
    after, peak = rss_mb(), rss_mb("VmHWM")
    counters = h.service.engine.counters
    result = {
        "before": before,
        "after": after,
        "peak": peak,
        "bars": float(counters.bars),
        "orders": float(counters.orders),
        "fills": float(counters.fills),
        "rows": float(h.journal.rows_written),
    }
    await h.service.stop()
    return result


def measure() -> Figure:
    print(f"  [6] {SYMBOLS} symbols x {MINUTES} minutes (a whole session) in a child process")
    result = run_child("bench.memory")
    print(
        f"      bars {result['bars']:,.0f}, orders {result['orders']:,.0f}, "
        f"fills {result['fills']:,.0f}, journal rows {result['rows']:,.0f}; RSS before the bars "
        f"{result['before']:.0f} MB, at the close {result['after']:.0f} MB, "
        f"peak {result['peak']:.0f} MB"
    )
    return Figure(
        6,
        f"memory (RSS) after a {MINUTES}-minute session",
        f"{result['after']:.0f} MB (peak {result['peak']:.0f} MB)",
        f"{result['before']:.0f} MB (same process before the bars)",
        f"+{result['after'] - result['before']:.0f} MB",
        f"< {TARGET_MB:.0f} MB",
        result["peak"] < TARGET_MB,
    )


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_child(Path(sys.argv[1])))))
