"""P&L by period from the journal: realized, commissions and fills over today, this week or
all time, with the periods starting at New York midnight (today) and Monday's New York midnight
(week). Realized P&L replays every journaled fill (and adoption) through the book's own
position arithmetic, so a period's closes are priced against the cost basis built before it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ops.journal.journal import Journal
from strategy.market_day import NEW_YORK
from strategy.position_math import change_position

PERIODS = ("today", "week", "all")
FILLS = "select ts, symbol, side, qty, price, commission from fills order by ts, id"
ADOPTIONS = "select ts, symbol, qty, avg_price from adoptions order by ts, id"
# the book's unrealized P&L at its last equity snapshot before the period began
UNREALIZED_BEFORE = "select unrealized from equity where ts < ? order by ts desc limit 1"
FIRST_FILL = "select min(ts) as ts from fills"


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    since_ts: float
    realized: float
    commissions: float
    fills: int
    unrealized_at_start: float


def period_start(period: str, now: float) -> float:
    """Epoch seconds where `period` began: New York midnight today, Monday's New York midnight
    this week, or 0 for all time."""
    if period == "all":
        return 0.0
    local = datetime.fromtimestamp(now, NEW_YORK)
    midnight = datetime(local.year, local.month, local.day, tzinfo=NEW_YORK)
    if period == "week":
        midnight = datetime.combine(
            midnight.date() - timedelta(days=midnight.weekday()), midnight.time(), NEW_YORK
        )
    return midnight.timestamp()


@dataclass(frozen=True, slots=True)
class _Event:
    ts: float
    symbol: str
    signed_qty: int
    price: float
    commission: float
    adoption: bool  # the book bought an operator's shares at the market price


def realized_since(events: list[_Event], since: float) -> tuple[float, float, int]:
    """(realized P&L, commissions, fills) of the events at or after `since`, the cost basis
    built from every event before."""
    held: dict[str, tuple[int, float]] = {}
    realized = commissions = 0.0
    fills = 0
    for e in sorted(events, key=lambda e: e.ts):
        qty, avg = held.get(e.symbol, (0, 0.0))
        change = change_position(qty, avg, e.signed_qty, e.price)
        held[e.symbol] = (change.qty, change.avg_price)
        if e.adoption:  # not a fill: the book's cost basis moves as there (and may realize)
            realized += change.realized if e.ts >= since else 0.0
            continue
        if e.ts >= since:
            realized += change.realized
            commissions += e.commission
            fills += 1
    return realized, commissions, fills


def period_figures(journal: Journal, period: str, now: float) -> PeriodFigures:
    """Blocking reads and a replay of every fill: call it off the event loop."""
    since = period_start(period, now)
    events = [
        _Event(
            float(r["ts"]),  # type: ignore[arg-type]
            str(r["symbol"]),
            int(r["qty"]) * (1 if r["side"] == "buy" else -1),  # type: ignore[call-overload]
            float(r["price"]),  # type: ignore[arg-type]
            float(r["commission"] or 0.0),  # type: ignore[arg-type]
            False,
        )
        for r in journal.query(FILLS)
    ]
    events += [
        _Event(float(r["ts"]), str(r["symbol"]), int(r["qty"]), float(r["avg_price"]), 0.0, True)  # type: ignore[arg-type, call-overload]
        for r in journal.query(ADOPTIONS)
    ]
    realized, commissions, fills = realized_since(events, since)
    before = journal.query(UNREALIZED_BEFORE, (since,))
    if period == "all":
        first = journal.query(FIRST_FILL)[0]["ts"]
        since = float(first) if first is not None else now  # type: ignore[arg-type]
    unrealized = float(before[0]["unrealized"] or 0.0) if before else 0.0  # type: ignore[arg-type]
    return PeriodFigures(since, realized, commissions, fills, unrealized)
