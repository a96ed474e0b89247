"""Book vs broker positions: the one comparison `/trade reconcile`, `positions` and the
monitor's scheduled check all use. Mismatches are incidents keyed `reconcile:SYMBOL`."""

from __future__ import annotations

from ops.results import PositionCompare, PositionsResult
from ops.service import TradingService
from strategy.venue import BrokerError

INCIDENT_PREFIX = "reconcile:"


async def compare(service: TradingService) -> PositionsResult:
    broker_error = None
    held: dict[str, tuple[int, float]] = {}
    try:
        for bp in await service.broker.positions():
            held[bp.symbol] = (bp.qty, bp.avg_price)
    except BrokerError as exc:
        broker_error = str(exc)
    mine = {p.symbol: p for p in service.book.positions()}
    rows = []
    for symbol in sorted(set(mine) | set(held)):
        position = mine.get(symbol)
        broker_qty, broker_avg = held.get(symbol, (0, None))
        rows.append(
            PositionCompare(
                symbol=symbol,
                book_qty=position.qty if position else 0,
                broker_qty=None if broker_error else broker_qty,
                book_avg=position.avg_price if position else None,
                broker_avg=broker_avg,
            )
        )
    return PositionsResult(tuple(rows), broker_error, reconcile=False)


async def reconcile(service: TradingService) -> PositionsResult:
    """Compare, then open an incident per mismatched symbol and resolve those that agree
    again (including symbols that no longer appear on either side)."""
    result = await compare(service)
    result = PositionsResult(result.rows, result.broker_error, reconcile=True)
    if result.broker_error is not None:
        return result
    seen = set()
    book = service.book
    for row in result.rows:
        key = f"{INCIDENT_PREFIX}{row.symbol}"
        seen.add(key)
        if row.matches:
            book.hold_foreign(row.symbol, 0, 0.0)
            service.resolve(key, f"{row.symbol}: book and broker agree")
        else:
            if not book.has_working_order(row.symbol):  # else it may be a fill on its way
                extra = (row.broker_qty or 0) - row.book_qty
                book.hold_foreign(row.symbol, extra, row.broker_avg or row.book_avg or 0.0)
            message = (
                f"{row.symbol}: book {row.book_qty:+d}, broker {row.broker_qty or 0:+d} shares;"
                f" the strategy does not trade {row.symbol} until you adopt the broker's view"
                f" (`/trade adopt {row.symbol}`)"
            )
            service.alert(key, "critical", message)
    for key in [k for k in service.open_alerts if k.startswith(INCIDENT_PREFIX)]:
        if key not in seen:
            book.hold_foreign(key.removeprefix(INCIDENT_PREFIX), 0, 0.0)
            service.resolve(key, f"{key.removeprefix(INCIDENT_PREFIX)}: flat on both sides")
    return result
