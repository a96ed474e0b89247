"""Figure 1: one engine pass against the floor. `ops.backtest.run` over the backtest bars (the
shipped config's 5 symbols x 100,000 minute bars, with costs: the live engine, gate, book and
simulated broker, skipping the bars that cannot act) against a bare O(1) rolling z-score loop
over the same bars in plain Python (no orders, no book: what any per-bar strategy pays at the
least). CPU seconds of this process, medians of interleaved rounds after a warm-up of each:
the machine is shared, and CPU time is what a pass costs whoever else runs."""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.backtest_bars import bars_file, config_file
from bench.common import Figure, interleaved
from ops.backtest.collector import tune_for_passes
from ops.backtest.run import Costs, Setup, run
from ops.config.settings import load_settings
from strategy.venues.bar_columns import BarColumns
from strategy.venues.bars import load_bars

RUNS = 5
TARGET_RATIO = 3.0  # a pass within 3x of the bare loop (issue 25; 5.5x before it)


def bare_loop(columns: BarColumns, lookback: int, entry_z: float) -> int:
    """Bars whose |z| exceeds entry_z: each symbol's last `lookback - 1` log returns kept in a
    ring with running sums, one update and one z per bar."""
    n = lookback - 1
    state: dict[int, list[float]] = {}  # code -> [last close, sum, sum of squares, count]
    rings: dict[int, list[float]] = {}
    heads: dict[int, int] = {}
    signals = 0
    log, sqrt = math.log, math.sqrt
    for code, close in zip(columns.code.tolist(), columns.close.tolist(), strict=True):
        s = state.get(code)
        if s is None:
            state[code], rings[code], heads[code] = [close, 0.0, 0.0, 0], [0.0] * n, 0
            continue
        r = log(close / s[0])
        s[0] = close
        ring, head = rings[code], heads[code]
        old = ring[head]
        ring[head] = r
        heads[code] = (head + 1) % n
        s[1] += r - old
        s[2] += r * r - old * old
        s[3] += 1
        if s[3] >= n:
            mean = s[1] / n
            z = (r - mean) / (sqrt(max(s[2] / n - mean * mean, 0.0)) + 1e-8)
            if z > entry_z or z < -entry_z:
                signals += 1
    return signals


def cpu_seconds(work: Callable[[], object]) -> float:
    started = time.process_time()
    work()
    return time.process_time() - started


def measure() -> Figure:
    tune_for_passes()
    data = bars_file()
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(config_file(Path(folder)))
    columns = load_bars(data).bars
    params = settings.strategy_params()
    setup = Setup(
        settings.symbols,
        params,
        settings.risk_limits(),
        Costs(commission_per_share=settings.number("broker.commission_per_share")),
        starting_cash=settings.number("broker.starting_cash"),
        bar_sec=settings.integer("sim.bar_sec"),
        vol_window=settings.integer("strategy.vol_window"),
    )

    orders = [0]

    def one_pass(quiet: bool = False) -> None:
        c = columns  # the arrays without their caches: the statistics are part of a pass
        fresh = BarColumns(c.names, c.code, c.ts, c.open, c.high, c.low, c.close, c.volume)
        orders[0] = asyncio.run(
            run(fresh, setup.with_params(entry_z=10.0) if quiet else setup)
        ).orders

    def loop() -> None:
        bare_loop(columns, params.lookback, params.entry_z)

    print(f"  [1] one pass vs a bare z-score loop, {len(columns):,} bars, median of {RUNS}")
    found = interleaved(
        {
            "quiet": lambda: cpu_seconds(lambda: one_pass(quiet=True)),
            "loop": lambda: cpu_seconds(loop),
            "pass": lambda: cpu_seconds(one_pass),  # last: `orders` holds its count
        },
        RUNS,
    )
    ratio = found["pass"] / found["loop"]
    per_order = (found["pass"] - found["quiet"]) / orders[0] * 1e6
    print(
        f"      the same pass with no entry (entry_z 10, no order): {found['quiet']:.2f} s, "
        f"{found['quiet'] / found['loop']:.1f}x the loop; the rest is {orders[0]:,} orders "
        f"at {per_order:.0f} us each (decision, gate, book, simulated broker, fills)"
    )
    return Figure(
        1,
        "one engine pass (CPU)",
        f"{found['pass']:.2f} s ({len(columns) / found['pass']:,.0f} bars/s)",
        f"{found['loop']:.2f} s (bare O(1) z-score loop)",
        f"{ratio:.1f}x the loop",
        f"<= {TARGET_RATIO:.0f}x",
        ratio <= TARGET_RATIO,
    )
