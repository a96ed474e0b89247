"""Backtests recorded in the journal. A run with costs becomes the strategy's reference only
when asked (`tradebot backtest --as-reference`, recorded with kind `reference`): its max
drawdown sets the live drawdown alert (1.5x), its annual return and slippage are what the
drift check holds live trading to. Too small a run, or one on made-up bars, is never a
reference: refused when asked, and ignored when found in a journal (a reference recorded from
synthetic bars before they were refused, or a row written by hand)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ops.backtest.metrics import MIN_SAMPLE_DAYS, Metrics, sample_note
from ops.shared import messages
from strategy.market_day import NEW_YORK, market_time
from strategy.params import StrategyParams

if TYPE_CHECKING:
    from ops.journal.journal import Journal

REFERENCES = """
    select * from backtests where kind = 'reference' order by id desc limit 100
"""
MIN_FILLS = 20  # fewer fills say nothing about drawdown or slippage
MARKET_DATA = ("csv:", "alpaca:")  # the sources `_bars` names for bars from a market


@dataclass(frozen=True, slots=True)
class Reference:
    annual_return: float
    max_drawdown: float
    slippage_bps: float
    commission: float
    source: str
    ts: float
    days: int


@dataclass(frozen=True, slots=True)
class Found:
    """The reference live trading holds itself to, and why a newer one recorded is not it."""

    reference: Reference | None
    ignored: str | None = None


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


def from_market(source: str) -> bool:
    return source.startswith(MARKET_DATA)


def unfit(metrics: Metrics, source: str) -> str | None:
    """Why this run cannot be the reference, or None when it can."""
    return _unfit(source, metrics.fills, metrics.max_drawdown)


def _unfit(source: str, fills: int, max_drawdown: float) -> str | None:
    if not from_market(source):
        return messages.REFERENCE_NOT_MARKET_DATA.format(source=source)
    if fills < MIN_FILLS:
        return f"{fills} fill(s); a reference needs at least {MIN_FILLS}"
    if not max_drawdown > 0:
        return "no drawdown at all; a reference needs one to set the live alert"
    return None


def describe(reference: Reference) -> str:
    annual = (
        sample_note(reference.days)
        if math.isnan(reference.annual_return)
        else f"{reference.annual_return:+.2%}"
    )
    return (
        f"the reference of {market_time(reference.ts)} on {reference.source} (max drawdown "
        f"{reference.max_drawdown:.2%}, annualized {annual}, "
        f"slippage {reference.slippage_bps:+.2f} bps)"
    )


def _number(value: object) -> float:
    """A REAL column: NULL (how SQLite keeps a NaN, e.g. a withheld statistic) reads as NaN."""
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


def _weekdays(start_ts: object, end_ts: object) -> int:
    """New York weekdays from start to end: the days of a reference recorded without them."""
    try:
        first = datetime.fromtimestamp(float(start_ts), NEW_YORK).date()  # type: ignore[arg-type]
        last = datetime.fromtimestamp(float(end_ts), NEW_YORK).date()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0
    span = (last - first).days + 1
    return sum(1 for d in range(span) if (first + timedelta(days=d)).weekday() < 5)


def _reference(row: dict[str, object]) -> tuple[Reference | None, str | None]:
    """The row as a reference, or why it cannot be one."""
    try:
        detail = json.loads(str(row["detail"]))
        fills, commission = int(detail["fills"]), float(detail["commission"])
    except (ValueError, TypeError, KeyError):
        return None, "it holds no backtest's figures (written by hand?)"
    days = int(detail.get("days", _weekdays(row["start_ts"], row["end_ts"])))
    reference = Reference(
        # recorded before short samples were withheld: withheld now
        annual_return=_number(row["annual_return"]) if days >= MIN_SAMPLE_DAYS else math.nan,
        max_drawdown=_number(row["max_drawdown"]),
        slippage_bps=_number(row["slippage_bps"]),
        commission=commission,
        source=str(row["source"]),
        ts=float(row["ts"]),  # type: ignore[arg-type]
        days=days,
    )
    if row["costs"] != 1:
        return None, "it was run without costs"
    why = _unfit(reference.source, fills, reference.max_drawdown)
    return (None, why) if why else (reference, None)


async def find(journal: Journal) -> Found:
    """The newest reference fit to hold live trading to; a newer one that is not (made from
    synthetic bars, or written by hand) is named with the reason it is ignored."""
    ignored = None
    for row in await journal.aquery(REFERENCES):
        reference, why = _reference(row)
        if reference is not None:
            return Found(reference, ignored)
        if ignored is None:
            day = market_time(float(row["ts"]))  # type: ignore[arg-type]
            ignored = messages.REFERENCE_IGNORED.format(day=day, source=row["source"], why=why)
    return Found(None, ignored)
