"""Figure 13: a `set`'s backtest preview, from the command to the figures of both values:
5 recorded sessions x the shipped config's symbols, through the command core (the history
read, then the old and the new value's passes in the worker thread). Beside it, in the same
process, one backtest pass of the same bars (`run` + `compute`, as `tradebot backtest`): the
preview does two."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.backtest_bars import REPO
from bench.common import Figure
from bot.account import control_parts
from ops.backtest import history
from ops.backtest.metrics import compute
from ops.backtest.run import run
from ops.backtest.sessions import RecentSessions
from ops.backtest.setup import article_costs, backtest_setup
from ops.config.settings import load_settings
from ops.control.commands import CommandCore
from ops.control.confirm import Confirmations
from ops.journal.journal import Journal
from ops.service.service import TradingService
from ops.shared.results import ConfirmRequest
from strategy.clock import ManualClock
from strategy.venues.bar_columns import BarColumns
from strategy.venues.sim import SimBroker, SimSettings
from strategy.venues.sim_feed import SimFeed

SESSIONS = 5
RUNS = 5
TARGET_SEC = 2.0


async def preview_seconds(folder: Path) -> tuple[list[float], float, int]:
    """(seconds of each preview, seconds of one backtest pass, bars previewed)."""
    settings = load_settings(REPO / "config.yaml")
    bars = history.synthetic(settings.symbols, settings.integer("broker.seed"), SESSIONS)
    recent = RecentSessions(SESSIONS)
    for bar in bars:
        recent.observe(bar)
    journal = Journal(folder / "journal.db")
    journal.start()
    clock = ManualClock(start=bars[-1].ts)
    broker = SimBroker(SimSettings(), clock)
    service = TradingService(
        settings=settings,
        journal=journal,
        broker=broker,
        feed=SimFeed([], clock),
        clock=clock,
        starting_cash=100_000.0,
    )
    core = CommandCore(control_parts(service), Confirmations(time.time), time.time, recent)
    took = []
    for i in range(RUNS + 1):  # the first: warm-up
        started = time.perf_counter()
        request = await core.handle(f"set entry_z {2.1 + i / 10:g}", "U1", "C1", "bench")
        assert isinstance(request, ConfirmRequest)
        ticket = core.previews.take(request.nonce)
        assert ticket is not None
        preview = await ticket.task
        elapsed = time.perf_counter() - started
        assert preview.old is not None and len(preview.dates) == SESSIONS, preview.lines
        if i > 0:
            took.append(elapsed)
    columns = BarColumns.of(bars)
    setup = backtest_setup(settings, article_costs(settings))
    started = time.perf_counter()
    compute(await run(columns, setup), columns)
    one_pass = time.perf_counter() - started
    await asyncio.to_thread(journal.close)
    return took, one_pass, len(bars)


def measure() -> Figure:
    print(f"  [13] set entry_z: backtest preview of {SESSIONS} sessions, median of {RUNS}")
    with tempfile.TemporaryDirectory() as folder:
        took, one_pass, bars = asyncio.run(preview_seconds(Path(folder)))
    seconds = statistics.median(took)
    print(f"  [13] {bars:,} bars; previews {', '.join(f'{t:.2f}' for t in took)} s")
    return Figure(
        13,
        f"set preview: backtest of {SESSIONS} sessions, old and new value",
        f"{seconds:.2f} s",
        f"{one_pass:.2f} s (one backtest pass of the same bars)",
        f"{seconds / one_pass:.1f}x one pass (it runs two)",
        f"< {TARGET_SEC:.0f} s",
        seconds < TARGET_SEC,
    )
