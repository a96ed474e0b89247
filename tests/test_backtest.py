"""Backtests on the live engine: determinism, costs to the cent, sweep, split, the CLI (CSV,
synthetic and Alpaca bars through the loopback Alpaca, with its cache)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from ops.backtest.metrics import compute
from ops.backtest.robustness import FACTORS, SWEPT, robust, split, sweep
from ops.backtest.run import NO_COSTS, Costs, Setup, run
from strategy.params import RiskLimits, StrategyParams
from strategy.types import Bar
from strategy.venues.bars import synthetic_bars
from tests.fakes.alpaca import AlpacaFake
from tests.support import REPO, START, bar, spawn_tradebot, write_config
from tests.test_engine import CALM

SYMBOLS = ("SPY", "QQQ", "IWM")


ARTICLE = Costs()


def setup(costs: Costs = ARTICLE, seed: int = 3, symbols: tuple[str, ...] = SYMBOLS) -> Setup:
    return Setup(symbols, StrategyParams(), RiskLimits(), costs, seed=seed)


def market(minutes: int = 600, seed: int = 5) -> list[Bar]:
    return list(synthetic_bars(SYMBOLS, seed, START, count=minutes))


async def test_the_same_bars_and_seed_give_the_same_result() -> None:
    bars = market()
    first = compute(await run(bars, setup()), bars)
    again = compute(await run(bars, setup()), bars)
    other_seed = compute(await run(bars, setup(seed=4)), bars)
    assert first == again
    assert first.fills > 10
    assert other_seed.slippage_bps != first.slippage_bps  # the slippage draws follow the seed


async def test_commission_and_slippage_are_applied_to_the_cent() -> None:
    """One round trip by hand: buy at the 97.85 open under a 97.90 limit, exit at the next
    open 98.20 less 10 bps of slippage, $0.005 a share each way."""
    bars = [
        *(bar("SPY", i, close) for i, close in enumerate([*CALM, 98.0])),
        bar("SPY", 21, 97.95, open_=97.85),
        bar("SPY", 22, 98.20, open_=98.20),
    ]
    costs = Costs(commission_per_share=0.005, slippage_bps=10.0, slippage_std_bps=0.0)
    outcome = await run(bars, setup(costs, symbols=("SPY",)))
    buy, sell = outcome.fills
    qty = buy.qty
    assert (buy.side, buy.price, sell.side, sell.qty) == ("buy", 97.85, "sell", qty)
    assert sell.price == round(98.20 * (1 - 10 / 1e4), 4)
    metrics = compute(outcome, bars)
    expected = 100_000 - qty * 97.85 + qty * 98.1018 - 2 * qty * 0.005
    assert metrics.final_equity == pytest.approx(expected, abs=1e-6)
    assert metrics.commission == pytest.approx(2 * qty * 0.005)
    assert metrics.trades == 1 and math.isnan(metrics.win_rate)  # one day: too few to say
    # slippage (open -> fill, a cost when positive): none on the buy, 98.20 -> 98.1018 on the sell
    assert metrics.slippage_cost == pytest.approx(qty * (98.20 - 98.1018))
    assert metrics.slippage_bps == pytest.approx((0 + (98.20 - 98.1018) / 98.20 * 1e4) / 2)
    # latency (signal close -> next open): both gaps went the trade's way, a negative cost
    assert metrics.latency_cost == pytest.approx(qty * (97.85 - 98.0) - qty * (98.20 - 97.95))

    free = compute(await run(bars, setup(NO_COSTS, symbols=("SPY",))), bars)
    assert free.final_equity == pytest.approx(100_000 - qty * 97.85 + qty * 98.20)
    assert free.slippage_cost == 0 and free.slippage_bps == 0  # no costs: no slippage
    assert free.latency_cost == pytest.approx(metrics.latency_cost)


async def test_sweep_varies_each_parameter_alone_and_split_cuts_the_period() -> None:
    bars = market(minutes=300)
    base = setup()
    points = await sweep(bars, base)
    assert [(p.param, p.factor) for p in points] == [(s, f) for s in SWEPT for f in FACTORS]
    lookbacks = [p.value for p in points if p.param == "lookback"]
    assert lookbacks == [16, 18, 20, 22, 24]
    middle = [p for p in points if p.factor == 1.0]
    assert len({p.metrics for p in middle}) == 1  # the base case, four times
    assert robust(points) == all(p.metrics.total_return > 0 for p in points)

    halves = await split(bars, base, 0.7)
    assert halves.in_sample.end_ts == halves.split_ts
    assert halves.out_of_sample.start_ts == halves.split_ts
    assert halves.in_sample.bars + halves.out_of_sample.bars == len(bars)
    with pytest.raises(ValueError, match="too few bars"):
        await split(bars[:3], base, 0.5)


def backtest_cli(
    *args: str, config: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "backtest", "--config", str(config), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def journal_kinds(folder: Path) -> list[tuple[str, int]]:
    import sqlite3

    with sqlite3.connect(folder / "journal.db") as db:
        return [tuple(r) for r in db.execute("select kind, costs from backtests order by id")]


def test_the_cli_reports_records_and_saves_everything(tmp_path: Path) -> None:
    config = write_config(tmp_path, **{"strategy.symbols": list(SYMBOLS)})
    out = tmp_path / "reports"
    done = backtest_cli(
        "--synthetic",
        "--days",
        "1",
        "--no-costs",
        "--sweep",
        "--split",
        "--out",
        str(out),
        config=config,
    )
    assert done.returncode == 0, done.stderr
    for line in (
        "with costs",
        "no costs",
        "annualized return",
        "max drawdown",
        "win rate",
        "parameter sweep",
        "in sample",
        "out of sample",
        "not the live reference",
    ):
        assert line in done.stdout
    assert "100%" in done.stderr  # the progress bar
    (folder,) = out.iterdir()
    report = json.loads((folder / "report.json").read_text())
    assert set(report) >= {"with_costs", "no_costs", "sweep", "split"}
    assert (folder / "report.png").read_bytes().startswith(b"\x89PNG")
    kinds = journal_kinds(tmp_path)
    assert kinds[:2] == [("full", 1), ("full", 0)]
    assert kinds.count(("sweep", 1)) == len(SWEPT) * len(FACTORS)
    assert kinds[-2:] == [("split-in", 1), ("split-out", 1)]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ("--days", "0.2", "--slippage", "banana"),
            "--slippage 'banana': use article, config, live",
        ),
        (
            ("--days", "0.2", "--slippage", "live"),
            "--slippage live: the journal has no market-order fills",
        ),
        (("--data", "nowhere.csv"), "--data: no such file"),
        (("--data", "x.csv", "--days", "3"), "--days sets the length of synthetic bars"),
        (("--days", "0.2", "--split", "0.95"), "--split: the in-sample fraction must be 0.1..0.9"),
    ],
)
def test_bad_backtest_input_is_refused_with_a_message(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    config = write_config(tmp_path)
    done = backtest_cli(*args, "--out", str(tmp_path / "r"), config=config)
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "r").exists() and journal_kinds(tmp_path) == []  # nothing ran


async def test_alpaca_history_is_fetched_once_then_read_from_the_cache(tmp_path: Path) -> None:
    async with AlpacaFake() as alpaca:
        alpaca.bars_page_size = 100  # several pages
        for minute in range(240):
            for i, symbol in enumerate(SYMBOLS):
                close = 100 + i + (minute % 7) * 0.05
                await alpaca.push_bar(symbol, START + 60 * minute, close, live=False)
        config = write_config(
            tmp_path,
            **{
                "strategy.symbols": list(SYMBOLS),
                "journal.path": str(tmp_path / "j" / "journal.db"),
            },
        )
        env = {
            "ALPACA_API_KEY": "PKTEST",
            "ALPACA_SECRET_KEY": "secret-test",
            "ALPACA_DATA_URL": alpaca.data_url,
        }
        args = ("--alpaca", "2026-01-02", "2026-01-03", "--out", str(tmp_path / "r"))
        first = await spawn_tradebot(None, "backtest", "--config", str(config), *args, **env)
        out, err = await first.communicate()
        assert first.returncode == 0, err.decode()
        assert b"720 Alpaca bars fetched and cached" in out
        fetches = [r for r in alpaca.requests if "/bars" in r[1]]
        assert len(fetches) >= 3
        again = await spawn_tradebot(None, "backtest", "--config", str(config), *args, **env)
        out, err = await again.communicate()
        assert again.returncode == 0, err.decode()
        assert b"720 Alpaca bars read from the cache" in out
        assert [r for r in alpaca.requests if "/bars" in r[1]] == fetches
        assert b"secret-test" not in out + err
