"""Backtests recorded in the journal. A run with costs becomes the strategy's reference only
when asked (`tradebot backtest --as-reference`, recorded with kind `reference`): its max
drawdown sets the live drawdown alert (1.5x), its annual return and slippage are what the
drift check holds live trading to. Too small a run is never a reference."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ops.backtest.metrics import Metrics
from strategy.params import StrategyParams

if TYPE_CHECKING:
    from ops.journal import Journal

LATEST_REFERENCE = """
    select * from backtests where kind = 'reference' and costs = 1 order by id desc limit 1
"""
MIN_FILLS = 20  # fewer fills say nothing about drawdown or slippage


@dataclass(frozen=True, slots=True)
class Reference:
    annual_return: float
    max_drawdown: float
    slippage_bps: float
    commission: float
    source: str
    ts: float


def record(
    journal: Journal,
    kind: str,
    source: str,
    costs: bool,
    params: StrategyParams,
    metrics: Metrics,
    **detail: object,
) -> None:
    journal.record(
        "backtests",
        {
            "kind": kind,
            "source": source,
            "costs": int(costs),
            "params": json.dumps(asdict(params)),
            "start_ts": metrics.start_ts,
            "end_ts": metrics.end_ts,
            "total_return": metrics.total_return,
            "annual_return": metrics.annual_return,
            "sharpe": metrics.sharpe,
            "max_drawdown": metrics.max_drawdown,
            "trades": metrics.trades,
            "win_rate": metrics.win_rate,
            "slippage_bps": metrics.slippage_bps,
            "detail": json.dumps({**metrics.as_dict(), **detail}, default=str),
        },
    )


def unfit(metrics: Metrics) -> str | None:
    """Why this run cannot be the reference, or None when it can."""
    if metrics.fills < MIN_FILLS:
        return f"{metrics.fills} fill(s); a reference needs at least {MIN_FILLS}"
    if not metrics.max_drawdown > 0:
        return "no drawdown at all; a reference needs one to set the live alert"
    return None


def describe(reference: Reference) -> str:
    day = datetime.fromtimestamp(reference.ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"the reference of {day} on {reference.source} (max drawdown "
        f"{reference.max_drawdown:.2%}, annualized {reference.annual_return:+.2%}, "
        f"slippage {reference.slippage_bps:+.2f} bps)"
    )


async def latest(journal: Journal) -> Reference | None:
    rows = await journal.aquery(LATEST_REFERENCE)
    if not rows:
        return None
    row = rows[0]
    return Reference(
        annual_return=float(row["annual_return"]),  # type: ignore[arg-type]
        max_drawdown=float(row["max_drawdown"]),  # type: ignore[arg-type]
        slippage_bps=float(row["slippage_bps"]),  # type: ignore[arg-type]
        commission=float(json.loads(str(row["detail"]))["commission"]),
        source=str(row["source"]),
        ts=float(row["ts"]),  # type: ignore[arg-type]
    )
