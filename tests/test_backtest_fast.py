"""The fast replay (statistics for all bars at once, the engine shown only the bars where
something can happen) against the bar-by-bar replay through the simulated feed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ops.backtest.features import symbol_features
from ops.backtest.parallel import run_many
from ops.backtest.run import Costs, Outcome, Setup, run, run_bar_by_bar
from strategy.params import RiskLimits, StrategyParams
from strategy.recorder import MemoryRecorder
from strategy.stats import RollingStats
from strategy.types import Bar
from strategy.venues.bar_columns import BarColumns
from strategy.venues.bars import BarDataError, load_bars, synthetic_bars
from tests.support import START

SYMBOLS = ("SPY", "QQQ", "IWM")
# Tight limits so that every rule of the gate and the broker's buying power is met on the way:
# orders a day, orders a minute, gross exposure, the daily loss, partial IOC misses.
LIMITS = RiskLimits(
    max_orders_per_day=40,
    max_orders_per_minute=1,
    max_gross_exposure=3_000.0,
    max_daily_loss_pct=0.002,
)
COSTS = Costs(commission_per_share=0.005, slippage_bps=2.34, slippage_std_bps=2.87)


def _sessions(seed: int, days: int) -> list[Bar]:
    """`days` sessions of 390 minute bars, nights between them (day starts fall inside)."""
    per_day = 390 * len(SYMBOLS)
    bars = list(synthetic_bars(SYMBOLS, seed, 0.0, count=390 * days))
    return [
        Bar(b.symbol, START + (i // per_day) * 86_400 + (b.ts % (390 * 60)), *_values(b))
        for i, b in enumerate(bars)
    ]


def _values(b: Bar) -> tuple[float, float, float, float, float]:
    return b.open, b.high, b.low, b.close, b.volume


def _setup(seed: int) -> Setup:
    return Setup(
        symbols=SYMBOLS,
        params=StrategyParams(cooldown_sec=120.0, risk_pct=0.2, max_qty=400),
        limits=LIMITS,
        costs=COSTS,
        starting_cash=6_000.0,
        seed=seed,
    )


async def _both(bars: list[Bar], setup: Setup) -> tuple[Outcome, Outcome, MemoryRecorder, ...]:
    slow_rows, fast_rows = MemoryRecorder(), MemoryRecorder()
    slow = await run_bar_by_bar(bars, setup, recorder=slow_rows)
    fast = await run(BarColumns.of(bars), setup, recorder=fast_rows)
    return slow, fast, slow_rows, fast_rows


@pytest.mark.parametrize("seed", [3, 29])
async def test_the_fast_replay_makes_the_same_orders_fills_and_equity(seed: int) -> None:
    """Same orders, refusals, fills and equity curve (to the cent) as the bar-by-bar replay."""
    bars = _sessions(seed, days=4)
    setup = _setup(seed)
    slow, fast, slow_rows, fast_rows = await _both(bars, setup)
    assert len(slow_rows.of("fills")) > 30  # the comparison means something
    assert len(slow_rows.of("refusals")) > 10
    assert fast_rows.of("orders") == slow_rows.of("orders")
    assert fast_rows.of("fills") == slow_rows.of("fills")
    assert fast_rows.of("refusals") == slow_rows.of("refusals")
    assert fast_rows.of("day_start") == slow_rows.of("day_start")
    assert (fast.bars, fast.orders, fast.refusals) == (slow.bars, slow.orders, slow.refusals)
    assert fast.curve.ts.tolist() == slow.curve.ts.tolist()
    assert abs(fast.curve.equity - slow.curve.equity).max() < 0.005


GRID = [(entry, exit_) for entry in (1.5, 2.0, 2.5) for exit_ in (0.25, 0.5, 0.75)]


@pytest.mark.parametrize(("entry_z", "exit_z"), GRID)
async def test_every_point_of_a_sweep_grid_skips_only_bars_that_cannot_act(
    entry_z: float, exit_z: float
) -> None:
    """Across the sweep grid (entry_z x exit_z), the replay that skips bars makes the orders,
    fills, refusals and equity curve of the one that shows the engine every bar."""
    bars = _sessions(13, days=3)
    setup = _setup(13).with_params(entry_z=entry_z, exit_z=exit_z)
    slow, fast, slow_rows, fast_rows = await _both(bars, setup)
    assert len(slow_rows.of("fills")) > 10  # the comparison means something
    for table in ("orders", "fills", "refusals", "day_start"):
        assert fast_rows.of(table) == slow_rows.of(table), table
    assert (fast.bars, fast.orders, fast.refusals) == (slow.bars, slow.orders, slow.refusals)
    assert fast.curve.ts.tolist() == slow.curve.ts.tolist()
    assert abs(fast.curve.equity - slow.curve.equity).max() < 0.005


async def test_a_frictionless_pass_on_the_same_bars_matches_too() -> None:
    """The second pass reuses the statistics computed for the first and still matches."""
    bars = BarColumns.of(_sessions(5, days=2))
    setup = replace(_setup(5), costs=Costs(0.0, 0.0, 0.0))
    await run(bars, _setup(5))
    slow_rows, fast_rows = MemoryRecorder(), MemoryRecorder()
    await run_bar_by_bar(bars, setup, recorder=slow_rows)
    await run(bars, setup, recorder=fast_rows)
    assert fast_rows.of("fills") == slow_rows.of("fills")


def test_the_statistics_for_all_bars_are_the_rolling_ones() -> None:
    """z and volatility for every bar agree with RollingStats fed bar by bar."""
    closes = np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.002, 3_000))) * 100
    found = symbol_features(np.arange(len(closes)), closes, lookback=20, vol_window=10)
    rolling = RollingStats(20, vol_window=10)
    for i, close in enumerate(closes.tolist()):
        rolling.update(close)
        assert (i >= found.ready_from) == rolling.ready
        if rolling.ready:
            assert found.z[i] == pytest.approx(rolling.z, rel=1e-9, abs=1e-12)
            assert found.vol[i] == pytest.approx(rolling.vol, rel=1e-9)


HEADER = "timestamp,symbol,open,high,low,close,volume\n"
FILES = [
    HEADER
    + "2026-01-02T14:30:00Z,spy,100,101,99,100.5,1000\n1767364260, SPY ,100.5,101,100,1e2,9\n",
    HEADER
    + "1767364200,SPY,100.1,101.37,99.01,100.25,1000\n1767364200,QQQ,400,401,399,400.5,nan\n",
    HEADER + "1,SPY,1,1,1,1,\n",  # an empty volume: the row reader's verdict
    HEADER,
    "timestamp,symbol,open,high,low,close\n",
    HEADER + "1,SPY,1,1,1,abc,1\n",
    HEADER + "1,SPY,1,1,1,0,1\n",
    HEADER + "1,SPY,1,1,1,nan,1\n",
    HEADER + "60,SPY,1,1,1,1,1\n0,SPY,1,1,1,1,1\n",
    HEADER + "yesterday,SPY,1,1,1,1,1\n",
    HEADER + "1,,1,1,1,1,1\n",
    HEADER + "1,SPY,1,1,1,1\n",
    "\ufeff" + HEADER + "1,SPY,1,1,1,1,1\n",
    HEADER + "1,SPY,1,1,1,1,1,1\n",  # an extra field
    HEADER + "60,SPY,1,2,1,1.5,1\n60,SPY,1,2,1,1.5,1\n60,QQQ,1,2,1,1.5,1\n",  # a repeat
    HEADER + "60,SPY,1,2,1,1.5,1\n60,SPY,1,2,1,1.6,1\n",  # a conflicting repeat
    HEADER + "60,SPY,1,2,1,1.5,1\n60,QQQ,1,2,1,1.5,1\n60,SPY,1,2,1,1.5,1\n",  # apart
    HEADER + "60,SPY,1,2,1,1.5,1\n60,QQQ,1,2,1,1.5,1\n120,QQQ,1,2,1,1.5,1\n120,SPY,1,2,1,1.5,1\n",
    HEADER + "60,SPY,1,1,2,1.5,1\n120,SPY,3,2,1,1.5,-1\n",  # high < low, negative volume
    HEADER + "60,SPY,1,2,1,2.5,1\n\n120,SPY,0.5,2,1,1.5,1\n",  # outside low..high, a blank line
    HEADER + "".join(f"{t},SPY,1,2,1,3,1\n" for t in range(9)),  # many rows with a warning
    HEADER + "".join(f"{t},SPY,-1,2,1,1,1\n" for t in range(9)),  # many bad rows
]


@pytest.mark.parametrize("body", FILES)
def test_the_columnar_reader_accepts_and_refuses_as_the_row_reader(
    tmp_path: Path, body: str
) -> None:
    """Same bars and warnings, or the same message naming the file, line and value."""
    path = tmp_path / "bars.csv"
    path.write_text(body)
    verdicts = []
    for columnar in (False, True):
        try:
            loaded = load_bars(path, columnar=columnar)
            verdicts.append(repr((list(loaded.bars), loaded.warnings)))
        except BarDataError as exc:
            verdicts.append(str(exc))
    assert verdicts[1] == verdicts[0]


async def test_runs_spread_over_every_core_give_the_runs_made_one_by_one() -> None:
    """run_many (worker processes, as --sweep uses) returns each setup's own outcome, in order."""
    bars = BarColumns.of(_sessions(7, days=2))
    setups = [_setup(7).with_params(entry_z=z) for z in (1.8, 2.0, 2.4)]
    spread = await run_many(bars, setups)
    one_by_one = [await run(bars, s) for s in setups]
    assert [o.fills for o in spread] == [o.fills for o in one_by_one]
    assert [o.curve for o in spread] == [o.curve for o in one_by_one]
    assert len({o.orders for o in spread}) > 1  # the setups differ
