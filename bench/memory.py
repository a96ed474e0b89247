"""Figure 6: resident memory with 1,000 symbols after one hour of simulated minute bars,
through the whole service (engine, simulated broker, book, journal). Measured in a fresh
child process so that the other benchmarks' garbage does not count."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from bench.common import START, Figure, bar_stream, run_child, symbols
from strategy.venues.sim_feed import SimFeed
from tests.support import eventually, make_harness

SYMBOLS = 1_000
MINUTES = 60
TARGET_MB = 200.0


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def _child(folder: Path) -> dict[str, float]:
    names = symbols(SYMBOLS)
    h = make_harness(folder, **{"strategy.symbols": list(names)})
    before = rss_mb()
    bars = bar_stream(names, MINUTES)
    h.clock.set(START)
    h.service.feed = SimFeed(bars, h.clock, observers=[h.broker.on_bar], speed=None)
    del bars
    await h.service.start()
    await eventually(lambda: h.service.feed_ended, within=600)
    await h.journal.aflush()
    after = rss_mb()
    bars_seen = h.service.engine.counters.bars
    await h.service.stop()
    return {"before": before, "after": after, "bars": bars_seen}


def measure() -> Figure:
    print(f"  [6] {SYMBOLS} symbols x {MINUTES} minutes in a child process")
    result = run_child("bench.memory")
    print(f"      RSS before the bars {result['before']:.0f} MB; bars {result['bars']:,.0f}")
    return Figure(
        6,
        "memory (RSS)",
        f"{result['after']:.0f} MB",
        f"{result['before']:.0f} MB (same process before the bars)",
        f"+{result['after'] - result['before']:.0f} MB",
        f"< {TARGET_MB:.0f} MB",
        result["after"] < TARGET_MB,
    )


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_child(Path(sys.argv[1])))))
