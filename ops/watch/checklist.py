"""The article's pre-deploy checklist, evaluated from facts the journal holds. Each line is
pass, fail (the evidence says no, or what it needs was never done) or unknown (not enough
evidence yet), with the evidence shown."""

from __future__ import annotations

import json
import math

from ops.backtest.metrics import sample_note
from ops.backtest.reference import Reference, find
from ops.backtest.robustness import FACTORS, SWEPT
from ops.config.settings import Settings
from ops.journal.journal import Journal
from ops.shared.formatting import money
from ops.shared.results import ChecklistItem, ChecklistResult
from strategy.clock import Clock
from strategy.latency import nearest_rank
from strategy.market_day import trading_date

DAY = 86_400.0
PAPER_DAYS = 14
PAPER_GAP = 0.10  # paper vs backtest, annualized
TEST_ALERT = "test-alert"
SWEEP_POINTS = len(FACTORS) * len(SWEPT)  # one `backtest --sweep`


def _day(ts: object) -> str:
    """The New York trading day of a time."""
    return trading_date(float(ts))  # type: ignore[arg-type]


def _item(name: str, verdict: str, evidence: str) -> ChecklistItem:
    return ChecklistItem(name, verdict, evidence)


async def _rows(journal: Journal, sql: str, *params: object) -> list[dict[str, object]]:
    return await journal.aquery(sql, params)


async def _backtest_items(
    journal: Journal, reference: Reference | None, ignored: str | None, tolerance: float
) -> list[ChecklistItem]:
    any_full = await _rows(journal, "select * from backtests where kind = 'full' limit 1")
    items = []
    if reference:
        items.append(
            _item(
                "backtest includes commission and slippage",
                "pass",
                f"{_day(reference.ts)} on {reference.source}: commission "
                f"{money(reference.commission)}, mean slippage {reference.slippage_bps:+.2f} bps",
            )
        )
    else:
        why = ignored or ("no reference backtest" if any_full else "no backtest recorded")
        items.append(
            _item(
                "backtest includes commission and slippage",
                "fail",
                f"{why}: run `tradebot backtest --as-reference` on --data or --alpaca bars",
            )
        )
    sweep = await _rows(
        journal,
        "select total_return, detail from backtests where kind = 'sweep' "
        f"order by id desc limit {SWEEP_POINTS}",
    )
    if sweep:
        losers = [
            json.loads(str(r["detail"]))
            for r in sweep
            if float(r["total_return"]) <= 0  # type: ignore[arg-type]
        ]
        verdict = "fail" if losers else "pass"
        evidence = (
            f"{len(sweep)} sweep points, all profitable"
            if not losers
            else "losing at " + ", ".join(f"{d['param']} x{d['factor']}" for d in losers[:5])
        )
        items.append(_item("robust to +-20% on key parameters", verdict, evidence))
    else:
        items.append(
            _item(
                "robust to +-20% on key parameters",
                "fail",
                "no sweep recorded: run `tradebot backtest --sweep`",
            )
        )
    oos = await _rows(
        journal, "select * from backtests where kind = 'split-out' order by id desc limit 1"
    )
    if oos:
        items.append(
            _item(
                "tested out of sample",
                "pass",
                f"{_day(oos[0]['ts'])}: out-of-sample return {float(oos[0]['total_return']):+.2%}",  # type: ignore[arg-type]
            )
        )
    else:
        items.append(
            _item(
                "tested out of sample", "fail", "no split recorded: run `tradebot backtest --split`"
            )
        )
    if reference:
        depth = reference.max_drawdown
        verdict = "pass" if depth <= tolerance else "fail"
        items.append(
            _item(
                "max drawdown acceptable",
                verdict,
                f"backtest max drawdown {depth:.2%} vs tolerance {tolerance:.0%}",
            )
        )
    else:
        items.append(_item("max drawdown acceptable", "unknown", "no reference backtest yet"))
    return items


async def _operations_items(
    journal: Journal, clock: Clock, reference: Reference | None
) -> list[ChecklistItem]:
    items = []
    samples = await _rows(journal, "select ns from latency where stage = 'ingest'")
    if samples:
        ordered = sorted(int(r["ns"]) for r in samples)  # type: ignore[call-overload]
        items.append(
            _item(
                "feed latency measured",
                "pass",
                f"{len(ordered)} samples, ingest p99 {nearest_rank(ordered, 0.99) / 1e3:.0f} us",
            )
        )
    else:
        items.append(_item("feed latency measured", "fail", "no latency samples journaled yet"))
    kills = await _rows(
        journal, "select ts, detail from runs where event = 'kill' order by id desc"
    )
    flat = [k for k in kills if "flat=True" in str(k["detail"])]
    if flat:
        items.append(
            _item("kill switch tested", "pass", f"flat after a kill on {_day(flat[0]['ts'])}")
        )
    else:
        items.append(
            _item(
                "kill switch tested",
                "fail",
                "no kill that ended flat: try `/trade kill` on the simulator",
            )
        )
    tests = await _rows(journal, "select ts from alerts where key = ? order by id desc", TEST_ALERT)
    if tests:
        items.append(
            _item("an alert test fired", "pass", f"`/trade test-alert` on {_day(tests[0]['ts'])}")
        )
    else:
        items.append(_item("an alert test fired", "fail", "never: run `/trade test-alert`"))
    items.extend(await _paper_items(journal, clock, reference))
    return items


async def _paper_items(
    journal: Journal, clock: Clock, reference: Reference | None
) -> list[ChecklistItem]:
    runs = await _rows(
        journal,
        "select ts, event, detail from runs where event in ('start', 'stop') order by id",
    )
    paper = [r for r in runs if r["event"] == "start" and "alpaca paper" in str(r["detail"])]
    if not paper:
        return [
            _item(
                f"paper ran {PAPER_DAYS}+ days without a crash", "fail", "no paper run journaled"
            ),
            _item(
                "paper within 10% of the backtest, annualized", "unknown", "no paper run journaled"
            ),
        ]
    since = float(paper[0]["ts"])  # type: ignore[arg-type]
    crashes, running = 0, False
    for row in (r for r in runs if float(r["ts"]) >= since):  # type: ignore[arg-type]
        if row["event"] == "start":
            crashes += running  # a start while the last run never stopped
            running = True
        else:
            running = False
    days = (clock.now() - since) / DAY
    verdict = "pass" if days >= PAPER_DAYS and crashes == 0 else "fail"
    items = [
        _item(
            f"paper ran {PAPER_DAYS}+ days without a crash",
            verdict,
            f"paper since {_day(since)} ({days:.1f} days), {crashes} crash(es)",
        )
    ]
    items.append(await _paper_vs_backtest(journal, since, reference))
    return items


async def _paper_vs_backtest(
    journal: Journal, since: float, reference: Reference | None
) -> ChecklistItem:
    name = "paper within 10% of the backtest, annualized"
    curve = await _rows(journal, "select ts, equity from equity where ts >= ? order by ts", since)
    if not reference or len(curve) < 2:
        return _item(name, "unknown", "needs a backtest with costs and paper equity history")
    first, last = curve[0], curve[-1]
    years = (float(last["ts"]) - float(first["ts"])) / (365.25 * DAY)  # type: ignore[arg-type]
    if years < 1 / 365.25:
        return _item(name, "unknown", "less than a day of paper equity")
    growth = float(last["equity"]) / float(first["equity"])  # type: ignore[arg-type]
    paper = growth ** (1 / years) - 1
    backtest = reference.annual_return
    if math.isnan(backtest):
        return _item(
            name, "unknown", f"the backtest's annualized return is {sample_note(reference.days)}"
        )
    verdict = "pass" if abs(paper - backtest) <= PAPER_GAP else "fail"
    return _item(name, verdict, f"paper {paper:+.1%} vs backtest {backtest:+.1%} annualized")


async def evaluate(journal: Journal, settings: Settings, clock: Clock) -> ChecklistResult:
    """The checklist from `journal`'s facts, `settings` those in force, at `clock`'s now."""
    await journal.aflush()
    tolerance = settings.number("monitoring.max_drawdown_tolerance")
    found = await find(journal)  # the newest reference fit to be one
    items = await _backtest_items(journal, found.reference, found.ignored, tolerance)
    items += await _operations_items(journal, clock, found.reference)
    return ChecklistResult(tuple(items))
