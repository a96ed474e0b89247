"""Figure 2: end-to-end throughput on one core: synthetic feed -> engine -> simulated broker
-> book -> SQLite journal (writer thread on), as fast as the loop goes."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import OPEN_LIMITS, START, Figure, bar_stream, interleaved, symbols
from ops.journal.journal import Journal
from strategy.book import Book
from strategy.clock import ManualClock
from strategy.engine import Engine
from strategy.latency import LatencyTracker
from strategy.params import StrategyParams
from strategy.risk import RiskGate
from strategy.types import Bar
from strategy.venues.sim import SimBroker, SimSettings
from strategy.venues.sim_feed import SimFeed

SYMBOLS = 100
BARS_PER_SYMBOL = 2_000
RUNS = 3
# 100,000 bars/s on the bare loop of the reference run (2.4M bars/s): a ratio, measured in the
# same run as ours, moves with the machine's speed at that moment instead of landing on either
# side of an absolute by noise
TARGET_RATIO = 100_000 / 2_400_000


def engine_seconds(
    engine: Engine, broker: SimBroker, clock: ManualClock, bars: list[Bar], journal: Journal
) -> float:
    """Wall seconds for the engine to take every bar as fast as the loop goes, its submits
    drained and every journal row written."""
    feed = SimFeed(bars, clock, observers=[broker.on_bar], speed=None)

    async def run() -> float:
        started = time.perf_counter()
        await engine.run(feed)
        await engine.drain()
        await journal.aflush()
        return time.perf_counter() - started

    return asyncio.run(run())


def bars_per_second(names: tuple[str, ...], bars: list[Bar], folder: Path) -> tuple[float, int]:
    """(bars/s, journal rows) for one run on a fresh journal."""
    journal = Journal(folder / f"bench-{time.monotonic_ns()}.db")
    journal.start()
    clock = ManualClock(start=START)
    broker = SimBroker(SimSettings(slippage_bps=1.0, seed=1), clock)
    engine = Engine(
        symbols=names,
        params=StrategyParams(),
        gate=RiskGate(OPEN_LIMITS, names, clock),
        book=Book(100_000.0, clock, journal),
        broker=broker,
        clock=clock,
        recorder=journal,
        latency=LatencyTracker(journal, clock),
    )
    elapsed = engine_seconds(engine, broker, clock, bars, journal)
    rows = journal.rows_written
    journal.close()
    return len(bars) / elapsed, rows


def bare_loop_rate(bars: list[Bar]) -> float:
    """The same feed into a no-op consumer: what the machine's loop costs per bar."""
    clock = ManualClock(start=START)

    async def run() -> float:
        started = time.perf_counter()
        async for _ in SimFeed(bars, clock, speed=None).bars():
            pass
        return time.perf_counter() - started

    return len(bars) / asyncio.run(run())


def measure() -> Figure:
    names = symbols(SYMBOLS)
    bars = bar_stream(names, BARS_PER_SYMBOL)
    print(f"  [2] {SYMBOLS} symbols x {BARS_PER_SYMBOL} bars, journal on, {RUNS} interleaved runs")
    rows: list[int] = []
    with tempfile.TemporaryDirectory() as folder:

        def ours() -> float:
            rate, written = bars_per_second(names, bars, Path(folder))
            rows.append(written)
            return rate

        found = interleaved({"ours": ours, "bare": lambda: bare_loop_rate(bars)}, RUNS)
    rate, bare = found["ours"], found["bare"]
    ratio = rate / bare
    print(f"      journal rows per run: {rows[0]:,}; ours {rate:,.0f} bars/s")
    return Figure(
        2,
        "end-to-end throughput",
        f"{ratio:.3f} of the bare loop ({rate:,.0f} bars/s)",
        f"{bare:,.0f} bars/s (feed into a no-op)",
        f"{ratio:.3f}",
        f">= {TARGET_RATIO:.3f} of the bare loop",
        ratio >= TARGET_RATIO,
    )
