"""Evidence a trader can act on: a live reference only from market data, live slippage drawn
from market orders only, no statistic printed as a fact on a tiny sample, and every time
printed with its zone."""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from bot.account import watched_parts
from ops.backtest import chart, report
from ops.backtest.live_slippage import live_slippage
from ops.backtest.metrics import compute
from ops.backtest.reference import Reference, describe, record
from ops.backtest.robustness import Split, SweepPoint
from ops.backtest.run import NO_COSTS, Curve, Outcome, Setup
from ops.journal.journal import Journal
from ops.shared.results import ChecklistResult, Level
from ops.watch.monitor import Monitor
from strategy.params import RiskLimits, StrategyParams
from tests.support import make_harness, write_config
from tests.test_backtest import backtest_cli
from tests.test_backtest_report import SYMBOLS, sessions_csv
from tests.test_checklist import metrics
from tests.test_replay import OLD_OPEN

SYNTHETIC = "synthetic:2d seed 7"  # how a reference made from synthetic bars was recorded
NEEDS = 20  # the minimum sample the README states (ops.backtest.metrics.MIN_SAMPLE_DAYS)
STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)?( ET)?")


def backtests(folder: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(folder / "journal.db") as db:
        return list(db.execute("select kind, source from backtests order by id"))


# -- case 2: a reference comes from market data ----------------------------------------------


@pytest.mark.parametrize("source", [("--days", "2"), ("--synthetic",)])
def test_synthetic_bars_are_refused_as_the_reference(
    tmp_path: Path, source: tuple[str, ...]
) -> None:
    """`--as-reference` on synthetic bars: exit 2, a message naming --data/--alpaca, nothing run
    or written (no report, no journal row)."""
    config = write_config(tmp_path, **{"strategy.symbols": SYMBOLS})
    done = backtest_cli(*source, "--as-reference", "--out", str(tmp_path / "r"), config=config)
    assert done.returncode == 2, done.stdout
    assert "--as-reference needs market data (--data FILE or --alpaca" in done.stderr
    assert "Traceback" not in done.stderr and "alerts above" not in done.stdout
    assert not (tmp_path / "r").exists() and backtests(tmp_path) == []


def test_a_market_data_reference_is_recorded_and_an_old_synthetic_one_is_named(
    tmp_path: Path,
) -> None:
    """A reference recorded from synthetic bars before they were refused is named as ignored;
    --as-reference on a CSV of market bars is recorded as the first real one."""
    config = write_config(tmp_path, **{"strategy.symbols": SYMBOLS})
    journal = Journal(tmp_path / "journal.db")
    journal.start()
    record(journal, "reference", SYNTHETIC, True, StrategyParams(), metrics(drawdown=0.0001))
    journal.close()
    data = sessions_csv(tmp_path / "two.csv", 2)
    done = backtest_cli(
        "--data", str(data), "--as-reference", "--out", str(tmp_path / "r"), config=config
    )
    assert done.returncode == 0, done.stderr
    assert f"on {SYNTHETIC} is ignored: {SYNTHETIC} is not market data" in done.stdout
    assert "recorded as the strategy's reference (the first one)" in done.stdout
    assert backtests(tmp_path)[-1] == ("reference", f"csv:{data}")


async def test_live_trading_ignores_a_reference_not_made_from_market_data(tmp_path: Path) -> None:
    """A synthetic reference (recorded before the refusal) and a row written by hand set no
    alert: the drawdown check stays at drawdown_alert_pct and says why, the drift check and
    the checklist name the ignored reference. A market-data reference is used."""
    h = make_harness(tmp_path, **{"monitoring.drawdown_alert_pct": 0.01})
    monitor = Monitor(watched_parts(h.service))
    record(h.journal, "reference", SYNTHETIC, True, StrategyParams(), metrics(drawdown=0.0001))
    h.journal.flush()
    found = {r.key: r for r in await monitor.run()}
    message = found["drawdown"].message
    assert "alert at 1.00%: drawdown_alert_pct; the reference of" in message
    assert f"{SYNTHETIC} is not market data" in message
    drift = {r.key: r for r in await monitor.drift()}["drift"]
    assert f"{SYNTHETIC} is not market data" in drift.message
    checklist = await h.run("checklist")
    assert isinstance(checklist, ChecklistResult)
    item = next(i for i in checklist.items if i.name.startswith("backtest includes"))
    assert item.verdict == "fail" and "is ignored" in item.evidence

    h.journal.record(  # by hand: no figures behind it
        "backtests", {"kind": "reference", "source": "csv:x", "costs": 1, "max_drawdown": 0.0001}
    )
    h.journal.flush()
    message = {r.key: r for r in await monitor.run()}["drawdown"].message
    assert "alert at 1.00%" in message and "written by hand" in message

    record(h.journal, "reference", "csv:day.csv", True, StrategyParams(), metrics(drawdown=0.004))
    h.journal.flush()
    message = {r.key: r for r in await monitor.run()}["drawdown"].message
    assert "alert at 0.60%: 1.5x the backtest's max drawdown" in message


async def test_a_reference_on_a_short_sample_holds_live_returns_to_nothing(
    tmp_path: Path,
) -> None:
    """A market-data reference of two days, recorded before short samples were withheld (its
    annualized +4,500% kept, no day count): the drift check says it is n/a and compares no
    live returns with it, instead of telling the operator to stop a strategy that is fine."""
    h = make_harness(tmp_path)
    monitor = Monitor(watched_parts(h.service))
    detail = metrics(annual=45.0).as_dict()
    del detail["days"], detail["n/a"]  # an older version's row
    h.journal.record(
        "backtests",
        {
            "kind": "reference",
            "source": "csv:two.csv",
            "costs": 1,
            "start_ts": OLD_OPEN,
            "end_ts": OLD_OPEN + 86_400 + 23_400,
            "annual_return": 45.0,
            "max_drawdown": 0.01,
            "slippage_bps": 1.0,
            "detail": json.dumps(detail),
        },
    )
    now = h.clock.now()
    for day in range(31):  # a month of flat live equity
        h.journal.record("equity", {"ts": now - (30 - day) * 86_400, "equity": 100_000.0})
    h.journal.flush()
    drift = {r.key: r for r in await monitor.drift()}["drift"]
    assert drift.level is Level.OK, drift.message
    assert f"annualized return is n/a (2 days; needs {NEEDS})" in drift.message


# -- case 3: live slippage from market orders only -------------------------------------------


def journal_fills(folder: Path, market: int, limit: int) -> None:
    """`market` market-order fills at +3 bps and `limit` limit-order fills at -8.21 bps."""
    journal = Journal(folder / "journal.db")
    journal.start()
    for i in range(market + limit):
        kind, bps = ("market", 3.0) if i < market else ("limit", -8.21)
        order = f"o{i}"
        journal.record("orders", {"ts": OLD_OPEN + i, "client_order_id": order, "type": kind})
        journal.record(
            "fills",
            {"ts": OLD_OPEN + i, "client_order_id": order, "qty": 10, "slippage_bps": bps},
        )
    journal.close()


def test_live_slippage_draws_only_market_order_fills_and_says_how_many(tmp_path: Path) -> None:
    """Limit fills (their limit or better) are left out of the draws; the header says how many
    market-order fills were used and how many limit fills were left out."""
    config = write_config(tmp_path, **{"strategy.symbols": SYMBOLS})
    journal_fills(tmp_path, market=25, limit=40)
    done = backtest_cli(
        "--days", "0.3", "--slippage", "live", "--out", str(tmp_path / "r"), config=config
    )
    assert done.returncode == 0, done.stderr
    said = "drawn from 25 live market-order fills (mean +3.00 bps; 40 limit fill(s) left out)"
    assert said in done.stdout


def test_live_slippage_with_too_few_market_fills_is_refused(tmp_path: Path) -> None:
    """Plenty of limit fills but 5 market-order fills: exit 2, says so, nothing written."""
    config = write_config(tmp_path, **{"strategy.symbols": SYMBOLS})
    journal_fills(tmp_path, market=5, limit=40)
    done = backtest_cli(
        "--days", "0.3", "--slippage", "live", "--out", str(tmp_path / "r"), config=config
    )
    assert done.returncode == 2
    assert "--slippage live: the journal has only 5 market-order fill(s) (40 limit" in done.stderr
    assert "needs at least 20" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "r").exists() and backtests(tmp_path) == []


async def test_live_slippage_joins_each_fill_to_its_own_runs_order(tmp_path: Path) -> None:
    """Simulator runs repeat client order ids: o0 is a market order in one run and a limit in
    the next, each filled once. Each fill counts once, as its own run's order type."""
    for kind, bps in (("market", 3.0), ("limit", -8.21)):
        journal = Journal(tmp_path / "journal.db")
        journal.start()
        journal.record("orders", {"ts": OLD_OPEN, "client_order_id": "o0", "type": kind})
        journal.record(
            "fills", {"ts": OLD_OPEN, "client_order_id": "o0", "qty": 10, "slippage_bps": bps}
        )
        journal.close()
    journal = Journal(tmp_path / "journal.db")
    journal.start()
    try:
        assert await live_slippage(journal) == ((3.0,), 1)
    finally:
        journal.close()


# -- case 4: no statistic as a fact on a tiny sample -----------------------------------------


def session_curve(days: int, start: float = OLD_OPEN) -> list[tuple[float, float]]:
    """Equity a minute apart through `days` weekday sessions, wandering up and down."""
    rng = np.random.default_rng(days)
    points: list[tuple[float, float]] = []
    for day in itertools.count():
        if len(points) == days * 390:
            break
        if day % 7 < 5:  # OLD_OPEN is a Monday: Saturdays and Sundays have no session
            points += [(start + day * 86_400 + 60 * i, 0.0) for i in range(390)]
    equity = 100_000 * np.exp(np.cumsum(rng.normal(0, 3e-4, len(points))))
    return [(ts, float(e)) for (ts, _), e in zip(points, equity, strict=True)]


def outcome(curve: list[tuple[float, float]]) -> Outcome:
    setup = Setup(("SPY",), StrategyParams(), RiskLimits(), NO_COSTS)
    return Outcome(setup, Curve.of(curve), (), len(curve), 0, 0, curve[0][0], curve[-1][0] + 60)


def test_statistics_below_the_minimum_sample_read_na_with_the_reason() -> None:
    """Under the minimum (20 New York days), annualized return, Sharpe and win rate are n/a
    with the days and the minimum, in the table, the chart's title, the split and sweep
    tables, and null with the reason in JSON; from the minimum on they are numbers."""
    short = compute(outcome(session_curve(2)), [])
    long = compute(outcome(session_curve(NEEDS)), [])
    na = f"n/a (2 days; needs {NEEDS})"
    text = report.table([("with costs", short), ("long", long)])
    for row in ("annualized return", "Sharpe (annualized)", "win rate"):
        (line,) = [line for line in text.splitlines() if line.startswith(row)]
        assert na in line
    assert short.days == 2 and long.days == NEEDS
    sharpe_line = next(line for line in text.splitlines() if line.startswith("Sharpe"))
    assert re.search(r"-?\d+\.\d\d$", sharpe_line)  # the long run's Sharpe is a number

    figures = short.as_dict()
    assert figures["sharpe"] is None and figures["annual_return"] is None
    assert figures["n/a"] == {"annual_return": na, "sharpe": na, "win_rate": na}
    assert json.loads(json.dumps(figures))["n/a"]["sharpe"] == na
    assert long.as_dict()["sharpe"] == long.sharpe and "sharpe" not in long.as_dict()["n/a"]

    line = ("with costs", np.asarray([OLD_OPEN]), np.asarray([100_000.0]), short)
    assert f"annualized {na}" in chart.chart([line], []).axes[0].get_title()
    halves = report.split_table(Split(short, short, OLD_OPEN))
    assert na in next(row for row in halves.splitlines() if row.startswith("Sharpe"))
    sweep = report.sweep_table([SweepPoint("entry_z", 1.0, 2.0, short)])
    assert f"Sharpe {na}" in sweep and " / n/a" in sweep


def test_a_backtest_on_two_days_prints_no_sharpe_and_writes_null(tmp_path: Path) -> None:
    """The CLI's text and report.json on two sessions: n/a (2 days; needs 20), null + reason."""
    config = write_config(tmp_path, **{"strategy.symbols": SYMBOLS})
    out = tmp_path / "r"
    done = backtest_cli("--days", "2", "--split", "--out", str(out), config=config)
    assert done.returncode == 0, done.stderr
    sharpe = [line for line in done.stdout.splitlines() if line.startswith("Sharpe")]
    assert len(sharpe) == 2 and all("n/a (" in line and "; needs 20)" in line for line in sharpe)
    (folder,) = out.iterdir()
    result = json.loads((folder / "report.json").read_text())
    assert result["with_costs"]["sharpe"] is None
    assert result["with_costs"]["n/a"]["sharpe"] == "n/a (2 days; needs 20)"
    assert result["split"]["out_of_sample"]["annual_return"] is None


# -- case 7: every time says its zone; a readable time axis ----------------------------------


def test_backtest_times_are_new_york_times_labelled_et() -> None:
    """Period, drawdown dates, the split and the reference: New York's clock, labelled ET."""
    found = compute(outcome(session_curve(3)), [])
    text = report.table([("with costs", found)])
    for row in ("period", "  from .. to"):
        line = next(line for line in text.splitlines() if line.startswith(row))
        stamps = STAMP.findall(line)
        assert len(stamps) == 2 and all(label == " ET" for label in stamps), line
    assert "2024-03-04 09:30 ET .. " in text  # OLD_OPEN, 09:30 New York (14:30 UTC)
    assert report.split_table(Split(found, found, OLD_OPEN)).startswith(
        "split at 2024-03-04 09:30 ET"
    )
    reference = Reference(0.1, 0.02, 1.0, 5.0, "csv:x", OLD_OPEN, 30)
    assert "the reference of 2024-03-04 09:30 ET on csv:x" in describe(reference)


@pytest.mark.parametrize("sessions", [1, 20, 250])
def test_the_chart_time_axis_is_readable_at_any_length(sessions: int) -> None:
    """At 1, 20 and 250 sessions the time axis has at least three labels, none overlapping
    another (by their rendered extents), and its title says the times are New York's."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    curve = outcome(session_curve(sessions))
    found = compute(curve, [])
    figure = chart.chart(chart.lines([("with costs", curve, found)]), [])
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    top, middle, _ = figure.axes
    for axis in (top, middle):
        labels = [t for t in axis.get_xticklabels() if t.get_visible() and t.get_text()]
        boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
        for left, right in itertools.pairwise(boxes):
            assert left.x1 < right.x0, [t.get_text() for t in labels]
        assert len(labels) >= 3, [t.get_text() for t in labels]
    assert "New York time" in middle.get_xlabel() and " ET" in middle.get_xlabel()


@pytest.mark.parametrize("sessions", [1, 20, 250])
def test_the_slack_equity_chart_is_in_new_york_time_and_readable(sessions: int) -> None:
    """`/trade pnl`'s chart: its time axis says ET and its date labels do not overlap."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from bot.slack.charts import equity_figure

    figure = equity_figure(session_curve(sessions)[::10])
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    axis = figure.axes[-1]
    labels = [t for t in axis.get_xticklabels() if t.get_visible() and t.get_text()]
    boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
    for left, right in itertools.pairwise(boxes):
        assert left.x1 < right.x0, [t.get_text() for t in labels]
    assert len(labels) >= 3 and axis.get_xlabel() == "New York time (ET)"
