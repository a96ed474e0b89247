"""Figure 12's baseline: the single process over the cluster's bars."""

from __future__ import annotations

import time
from pathlib import Path

from bench.throughput import engine_seconds
from ops.config.settings import Settings
from ops.journal.journal import Journal
from strategy.book import Book
from strategy.clock import ManualClock
from strategy.engine import Engine
from strategy.latency import LatencyTracker
from strategy.risk import RiskGate
from strategy.types import Bar
from strategy.venues.sim import SimBroker, SimSettings


def single_process(settings: Settings, bars: list[Bar], folder: Path) -> tuple[float, float, int]:
    """(bars/s, CPU seconds, orders): the engine of `tradebot run` with the same settings over
    the same bars, simulated broker and journal as figure 2 measures it."""
    names = settings.symbols
    journal = Journal(folder / "single.db")
    journal.start()
    clock = ManualClock(start=bars[0].ts)
    broker = SimBroker(SimSettings(slippage_bps=1.0, seed=1), clock)
    engine = Engine(
        symbols=names,
        params=settings.strategy_params(),
        gate=RiskGate(settings.risk_limits(), names, clock),
        book=Book(settings.number("broker.starting_cash"), clock, journal),
        broker=broker,
        clock=clock,
        recorder=journal,
        latency=LatencyTracker(journal, clock),
        vol_window=settings.integer("strategy.vol_window"),
        bar_sec=settings.integer("sim.bar_sec"),
    )
    cpu = time.process_time()  # every thread's: the journal's writer too
    elapsed = engine_seconds(engine, broker, clock, bars, journal)
    cpu = time.process_time() - cpu
    journal.close()
    return len(bars) / elapsed, cpu, engine.counters.orders
