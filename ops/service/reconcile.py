"""Book vs broker: positions and cash, the one comparison `/trade reconcile`, `positions` and
the monitor's scheduled check all use. Position mismatches are incidents keyed
`reconcile:SYMBOL`; cash that differs beyond `monitoring.cash_tolerance` is the `cash`
incident. Each reconcile first books the fees the broker charged since the last one."""

from __future__ import annotations

import logging

from ops.service.broker_facing import BrokerFacing
from ops.shared import messages
from ops.shared.formatting import money, signed_money
from ops.shared.results import CashCompare, PositionCompare, PositionsResult
from strategy.foreign_holdings import operator_cost
from strategy.venue import BrokerError

INCIDENT_PREFIX = "reconcile:"
CASH_INCIDENT = "cash"

log = logging.getLogger(__name__)


async def compare(parts: BrokerFacing) -> PositionsResult:
    broker_error = None
    held: dict[str, tuple[int, float]] = {}
    try:
        for bp in await parts.broker.positions():
            held[bp.symbol] = (bp.qty, bp.avg_price)
    except BrokerError as exc:
        broker_error = str(exc)
    mine = {p.symbol: p for p in parts.book.positions()}
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
    return PositionsResult(tuple(rows), broker_error, reconcile=False, cash=await _cash(parts))


async def _cash(parts: BrokerFacing) -> CashCompare:
    book = parts.book
    try:
        broker: float | None = (await parts.broker.account()).cash
    except BrokerError:
        broker = None
    return CashCompare(
        book=book.cash,
        broker=broker,
        foreign_cost=book.foreign_cost(),
        tolerance=parts.settings().number("monitoring.cash_tolerance"),
        operator_pnl=book.operator_pnl,
    )


async def book_charges(parts: BrokerFacing) -> None:
    """The fees, dividends and interest the broker booked since the last look move the
    book's cash (journaled as charges)."""
    try:
        charges = await parts.broker.new_charges()
    except BrokerError as exc:  # read again at the next reconcile; cash may differ meanwhile
        log.warning("broker fees and dividends not read: %s", exc)
        return
    for charge in charges:
        parts.book.charge(charge.amount, charge.reason, charge.ref)


async def reconcile(parts: BrokerFacing) -> PositionsResult:
    """Book the broker's new fees and dividends, compare, then open an incident per mismatched
    symbol (and for cash) and resolve those that agree again (including symbols that no longer
    appear on either side)."""
    await book_charges(parts)
    result = await compare(parts)
    result = PositionsResult(result.rows, result.broker_error, reconcile=True, cash=result.cash)
    if result.broker_error is not None:
        return result
    seen = set()
    book = parts.book
    for row in result.rows:
        key = f"{INCIDENT_PREFIX}{row.symbol}"
        seen.add(key)
        if row.matches:
            book.hold_foreign(row.symbol, 0, 0.0)
            parts.resolve(key, f"{row.symbol}: book and broker agree")
        else:
            if not book.has_working_order(row.symbol):  # else it may be a fill on its way
                broker_qty, book_avg = row.broker_qty or 0, row.book_avg or 0.0
                cost = operator_cost(row.book_qty, book_avg, broker_qty, row.broker_avg or 0.0)
                book.hold_foreign(row.symbol, broker_qty - row.book_qty, cost)
            message = (
                f"{row.symbol}: book {row.book_qty:+d}, broker {row.broker_qty or 0:+d} shares;"
                f" the strategy does not trade {row.symbol} until you adopt the broker's view"
                f" (`/trade adopt {row.symbol}`)"
            )
            parts.alert(key, "critical", message)
    for key in [k for k in parts.open_alerts if k.startswith(INCIDENT_PREFIX)]:
        if key not in seen:
            book.hold_foreign(key.removeprefix(INCIDENT_PREFIX), 0, 0.0)
            parts.resolve(key, f"{key.removeprefix(INCIDENT_PREFIX)}: flat on both sides")
    await _reconcile_cash(parts)
    return result


async def _reconcile_cash(parts: BrokerFacing) -> None:
    """Judged after the positions (which may have changed the foreign holdings), and not while
    an order works: its fill may have reached the broker's cash but not yet the book's."""
    if parts.book.working_orders():
        return
    cash = await _cash(parts)
    if cash.gap is None:
        return
    if cash.matches:
        parts.resolve(CASH_INCIDENT, f"cash: book and broker agree ({money(cash.book)})")
        return
    parts.alert(
        CASH_INCIDENT,
        "critical",
        f"cash: broker {money(cash.broker)}, book {money(cash.book)}"
        + (f" less {money(cash.foreign_cost)} of shares held for you" if cash.foreign_cost else "")
        + (_operator_pnl(cash.operator_pnl) if cash.operator_pnl else "")
        + f": {signed_money(cash.gap)} unexplained (tolerance "
        f"{money(cash.tolerance)}); loss and "
        "drawdown limits use the book's figure",
    )


def _operator_pnl(pnl: float) -> str:
    return messages.OPERATOR_PNL.format(pnl=signed_money(pnl))
