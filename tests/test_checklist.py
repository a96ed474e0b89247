"""The pre-deploy checklist flips from fail to pass as evidence reaches the journal, and the
drift check says plainly when live trading falls behind its backtest."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.account import watched_parts
from ops.backtest.metrics import Metrics
from ops.backtest.reference import record
from ops.backtest.robustness import FACTORS, SWEPT
from ops.shared.results import ChecklistResult, Done, Level
from ops.watch.monitor import Monitor
from strategy.params import StrategyParams
from tests.support import Harness, bar, make_harness
from tests.test_commands import feed_bars_until, open_spy_position

DAY = 86_400.0


def metrics(total: float = 0.05, annual: float = 0.20, drawdown: float = 0.08) -> Metrics:
    return Metrics(
        start_ts=0.0,
        end_ts=DAY,
        days=30,
        bars=1000,
        final_equity=100_000 * (1 + total),
        total_return=total,
        annual_return=annual,
        sharpe=1.5,
        max_drawdown=drawdown,
        drawdown_peak_ts=0.0,
        drawdown_trough_ts=DAY,
        orders=40,
        fills=40,
        trades=20,
        win_rate=0.55,
        turnover=3.0,
        commission=12.0,
        slippage_bps=2.0,
        slippage_cost=50.0,
        latency_bps=-1.0,
        latency_cost=-25.0,
        slippage_cost_article=48.0,
    )


async def verdicts(h: Harness) -> dict[str, str]:
    result = await h.run("checklist")
    assert isinstance(result, ChecklistResult)
    return {item.name: item.verdict for item in result.items}


async def test_the_checklist_passes_line_by_line_as_evidence_appears(tmp_path: Path) -> None:
    h = make_harness(tmp_path, **{"kill.poll_sec": 0.01})
    first = await verdicts(h)
    assert len(first) == 9 and "pass" not in first.values()

    params = StrategyParams()
    record(h.journal, "full", "csv:x", False, params, metrics())
    assert (await verdicts(h))["backtest includes commission and slippage"] == "fail"
    record(h.journal, "reference", "csv:x", True, params, metrics(drawdown=0.30))
    found = await verdicts(h)
    assert found["backtest includes commission and slippage"] == "pass"
    assert found["max drawdown acceptable"] == "fail"  # 30% against the 20% tolerance
    record(h.journal, "reference", "csv:x", True, params, metrics(drawdown=0.08))
    assert (await verdicts(h))["max drawdown acceptable"] == "pass"

    for i, (param, factor) in enumerate((p, f) for p in SWEPT for f in FACTORS):
        total = -0.01 if i == 0 else 0.02
        record(
            h.journal, "sweep", "csv:x", True, params, metrics(total), param=param, factor=factor
        )
    assert (await verdicts(h))["robust to +-20% on key parameters"] == "fail"
    for param, factor in ((p, f) for p in SWEPT for f in FACTORS):
        record(h.journal, "sweep", "csv:x", True, params, metrics(0.02), param=param, factor=factor)
    assert (await verdicts(h))["robust to +-20% on key parameters"] == "pass"
    record(h.journal, "split-out", "csv:x", True, params, metrics())
    assert (await verdicts(h))["tested out of sample"] == "pass"

    await open_spy_position(h)
    request = await h.run("kill")
    kill = asyncio.create_task(h.core.confirm(request.nonce, "U1", "C1", "test"))
    await feed_bars_until(h, kill, 22)
    for _ in range(100):  # enough bars for a journaled latency sample
        await h.push(bar("SPY", 30, 98.0))
    assert isinstance(await h.run("test-alert"), Done)
    found = await verdicts(h)
    assert found["kill switch tested"] == "pass"
    assert found["feed latency measured"] == "pass"
    assert found["an alert test fired"] == "pass"

    now = h.clock.now()
    h.journal.record(
        "runs", {"ts": now - 15 * DAY, "event": "start", "detail": "X on alpaca paper"}
    )
    h.journal.record("equity", {"ts": now - 15 * DAY, "equity": 100_000.0})
    h.journal.record("equity", {"ts": now, "equity": 100_000 * 1.20 ** (15 / 365.25)})
    found = await verdicts(h)
    assert found["paper ran 14+ days without a crash"] == "pass"
    assert found["paper within 10% of the backtest, annualized"] == "pass"
    h.journal.record("runs", {"ts": now - 2 * DAY, "event": "start", "detail": "X on alpaca paper"})
    assert (await verdicts(h))["paper ran 14+ days without a crash"] == "fail"  # no stop: a crash


async def test_drift_says_to_consider_stopping_when_live_trails_the_backtest(
    tmp_path: Path,
) -> None:
    h = make_harness(tmp_path)
    monitor = Monitor(watched_parts(h.service))
    assert {r.level for r in await monitor.drift()} == {Level.OK}  # no reference yet
    record(h.journal, "reference", "csv:x", True, StrategyParams(), metrics(annual=0.20))
    now = h.clock.now()
    for day in range(31):  # a month of live equity falling 5%
        equity = 100_000 * (1 - 0.05 * day / 30)
        h.journal.record("equity", {"ts": now - (30 - day) * DAY, "equity": equity})
    for _ in range(5):
        h.journal.record("fills", {"ts": now - DAY, "slippage_bps": 7.5, "qty": 10})
    h.journal.flush()
    found = {r.key: r for r in await monitor.drift()}
    assert found["drift"].level is Level.WARN
    assert "consider stopping this strategy" in found["drift"].message
    assert (
        found["drift-slippage"].level is Level.WARN
        and "+7.50 bps" in found["drift-slippage"].message
    )
    assert {"drift", "drift-slippage"} <= set(h.service.open_alerts)
