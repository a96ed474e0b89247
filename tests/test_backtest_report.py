"""Backtests that change nothing unless asked (the reference, the journal's overrides) and
reports that do not mislead (sessions, Sharpe, symbol counts, both runs, empty panels)."""

from __future__ import annotations

import json
import math
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from ops.backtest import chart, history, report
from ops.backtest.metrics import MIN_SAMPLE_DAYS, compute
from ops.backtest.run import NO_COSTS, Curve, Outcome, Setup
from ops.journal.journal import Journal
from strategy.market_day import NEW_YORK
from strategy.params import RiskLimits, StrategyParams
from strategy.venues.bars import synthetic_bars
from tests.support import write_config
from tests.test_backtest import backtest_cli
from tests.test_replay import OLD_OPEN, write_bars

SYMBOLS = ["SPY", "QQQ", "IWM"]


def reference_rows(folder: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(folder / "journal.db") as db:
        return list(db.execute("select source, max_drawdown from backtests where kind='reference'"))


def sessions_csv(path: Path, days: float, seed: int = 7) -> Path:
    """Bars shaped like a market's (390 a session, 09:30 New York, weekdays) in a CSV."""
    return write_bars(path, history.synthetic(SYMBOLS, seed, days, today=date(2026, 1, 5)))


def test_a_backtest_is_the_reference_only_when_asked_and_never_a_tiny_one(tmp_path: Path) -> None:
    """Plain runs leave the reference alone; --as-reference records one and says what it
    replaces; a run with too few fills is refused as the reference (exit 1)."""
    config = write_config(tmp_path, **{"strategy.symbols": SYMBOLS})
    out = str(tmp_path / "r")
    plain = backtest_cli("--days", "2", "--out", out, config=config)
    assert plain.returncode == 0, plain.stderr
    assert "not the live reference (no reference yet)" in plain.stdout
    assert reference_rows(tmp_path) == []

    two, three = sessions_csv(tmp_path / "two.csv", 2), sessions_csv(tmp_path / "three.csv", 3)
    first = backtest_cli("--data", str(two), "--as-reference", "--out", out, config=config)
    assert first.returncode == 0, first.stderr
    assert "recorded as the strategy's reference (the first one)" in first.stdout
    second = backtest_cli("--data", str(three), "--as-reference", "--out", out, config=config)
    assert "replaces the reference of" in second.stdout and "two.csv" in second.stdout
    assert [r[0] for r in reference_rows(tmp_path)] == [f"csv:{two}", f"csv:{three}"]

    tiny = sessions_csv(tmp_path / "tiny.csv", 0.02)
    refused = backtest_cli("--data", str(tiny), "--as-reference", "--out", out, config=config)
    assert refused.returncode == 1
    assert "not recorded as the reference: 0 fill(s); a reference needs at least" in refused.stderr
    assert "alerts above 0.000%" not in refused.stdout
    assert len(reference_rows(tmp_path)) == 2


def test_a_backtest_uses_the_config_file_unless_told_to_apply_overrides(tmp_path: Path) -> None:
    """The journal's runtime changes are named but not applied; --with-overrides applies them
    and the header lists each one beside the file's value. Symbols counted from the data."""
    config = write_config(tmp_path, **{"strategy.symbols": SYMBOLS, "broker.slippage_bps": 5.0})
    journal = Journal(tmp_path / "journal.db")
    journal.start()
    journal.record_param_change("strategy.entry_z_threshold", "2.0", "2.5", "U1", "set", False)
    journal.close()
    data = write_bars(tmp_path / "two.csv", synthetic_bars(["SPY", "QQQ"], 3, OLD_OPEN, count=390))
    args = ("--data", str(data), "--slippage", "config")

    plain = backtest_cli(*args, "--out", str(tmp_path / "a"), config=config)
    assert plain.returncode == 0, plain.stderr
    assert "2 symbol(s) (QQQ, SPY); no bars for IWM" in plain.stdout
    assert "5.00 bps (broker.slippage_bps)" in plain.stdout
    assert "NOT applied (strategy.entry_z_threshold = 2.5)" in plain.stdout
    applied = backtest_cli(*args, "--with-overrides", "--out", str(tmp_path / "b"), config=config)
    assert applied.returncode == 0, applied.stderr
    assert (
        "differs from the config file: strategy.entry_z_threshold = 2.5 (file: 2.0, from the "
        "override)" in applied.stdout
    )
    reports = [
        json.loads(next((tmp_path / d).iterdir()).joinpath("report.json").read_text())
        for d in ("a", "b")
    ]
    assert [r["params"]["strategy.entry_z_threshold"] for r in reports] == [2.0, 2.5]
    assert reports[0]["with_costs"]["orders"] != reports[1]["with_costs"]["orders"]


def test_synthetic_days_are_sessions() -> None:
    """--days N is N sessions of 09:30-16:00 New York on weekdays, not minutes end to end."""
    bars = history.synthetic(["SPY", "QQQ"], 1, 2.5, today=date(2026, 1, 5))  # a Monday
    assert len(bars) == int(2.5 * 390) * 2
    local = [datetime.fromtimestamp(b.ts, NEW_YORK) for b in bars]
    assert all(t.weekday() < 5 and (9, 30) <= (t.hour, t.minute) <= (15, 59) for t in local)
    assert sorted({t.date() for t in local}) == [
        date(2025, 12, 31),
        date(2026, 1, 1),
        date(2026, 1, 2),
    ]
    assert [b.ts for b in bars] == sorted(b.ts for b in bars)


def outcome(curve: list[tuple[float, float]]) -> Outcome:
    setup = Setup(("SPY",), StrategyParams(), RiskLimits(), NO_COSTS)
    return Outcome(setup, Curve.of(curve), (), len(curve), 0, 0, curve[0][0], curve[-1][0] + 60)


def test_sharpe_is_annualized_from_daily_returns() -> None:
    """Intraday wiggles do not count: Sharpe = mean / std of day-close returns x sqrt(252)."""
    days = [OLD_OPEN + d * 86_400 for d in range(MIN_SAMPLE_DAYS)]
    closes = [100_000.0 + 500 * ((3 * d) % 7) for d in range(1, MIN_SAMPLE_DAYS + 1)]
    curve = []
    for start, close in zip(days, closes, strict=True):
        curve += [(start + 60 * i, close + (50 if i % 2 else -50)) for i in range(10)]
        curve.append((start + 600, close))
    returns = [b / a - 1 for a, b in zip([100_000.0, *closes], closes, strict=False)]
    mean = sum(returns) / len(returns)
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    assert compute(outcome(curve), []).sharpe == mean / std * math.sqrt(252)


def test_the_figure_shows_both_runs_and_says_why_the_histogram_is_empty() -> None:
    """Equity and drawdown of both runs; without fills the histogram panel says so."""
    curve = [(OLD_OPEN + 60 * i, 100_000.0 + i) for i in range(30)]
    runs = [
        (name, outcome(curve), compute(outcome(curve), [])) for name in ("with costs", "no costs")
    ]
    top, middle, bottom = chart.chart(chart.lines(runs), []).axes
    assert len(top.get_lines()) == 2 and len(middle.get_lines()) == 2
    assert "no fills" in bottom.texts[0].get_text()


def test_report_folders_are_unique_within_the_same_second(tmp_path: Path) -> None:
    """Two backtests in the same second get two folders, named by the New York time (ET)."""
    now = datetime(2026, 1, 2, 15, 0, 0, tzinfo=UTC)
    first, second = report.new_folder(tmp_path, now), report.new_folder(tmp_path, now)
    assert first != second and first.is_dir() and second.is_dir()
    assert first.name == "20260102-100000-ET"  # 15:00 UTC is 10:00 in New York


def test_a_long_curve_is_drawn_thin_with_every_extreme_kept() -> None:
    """100,000 points become at most two per bucket plus the ends, and the line still reaches
    the curve's lowest and highest values where they happened."""
    rng = np.random.default_rng(3)
    y = np.cumsum(rng.normal(size=100_000))
    x = np.arange(len(y), dtype=np.float64)
    tx, ty = chart.thin(x, y, 1_000)
    assert len(tx) <= 2_002
    assert (tx[0], tx[-1]) == (0, len(y) - 1)
    assert (np.diff(tx) > 0).all()  # in time order
    assert ty.min() == y.min() and ty.max() == y.max()
    assert tx[ty.argmin()] == y.argmin() and tx[ty.argmax()] == y.argmax()
    assert chart.thin(x[:50], y[:50], 1_000)[1].tolist() == y[:50].tolist()  # short: as is


def test_max_drawdown_runs_from_the_first_time_the_peak_was_reached() -> None:
    """The deepest fall, its peak the first time equity reached that value (a return to the
    same value is not a new peak), its trough the first time it was that deep; a curve that
    only rises has none."""
    values = [100.0, 110.0, 104.0, 110.0, 99.0, 105.0, 99.0, 120.0]
    curve = [(OLD_OPEN + 60 * i, v) for i, v in enumerate(values)]
    found = compute(outcome(curve), [])
    assert found.max_drawdown == pytest.approx(0.1)
    assert (found.drawdown_peak_ts, found.drawdown_trough_ts) == (OLD_OPEN + 60, OLD_OPEN + 240)
    rising = compute(outcome([(OLD_OPEN + 60 * i, 100.0 + i) for i in range(5)]), [])
    assert (rising.max_drawdown, rising.drawdown_peak_ts) == (0.0, OLD_OPEN)
