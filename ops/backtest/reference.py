"""Backtests recorded in the journal. The newest full run with costs is the strategy's
reference: its max drawdown sets the live drawdown alert (1.5x), its annual return and
slippage are what the drift check holds live trading to."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from ops.backtest.metrics import Metrics
from ops.journal import Journal
from strategy.params import StrategyParams

LATEST_REFERENCE = """
    select * from backtests where kind = 'full' and costs = 1 order by id desc limit 1
"""


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
