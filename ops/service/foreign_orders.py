"""Open orders at the broker that the bot never sent: the operator's, until adopted.

Found at start-up, each is journaled (intent `foreign`) and looked up by its client_order_id,
so the broker follows it like ours (re-read after every trading-stream outage); its symbol
sends nothing while it works. Its fills are the operator's: they move the foreign holding,
never the strategy's position, count in exposure and raise the incident with the adopt route.
"""

from __future__ import annotations

from functools import partial

from ops.service.broker_facing import BrokerFacing
from ops.service.reconcile import INCIDENT_PREFIX
from ops.shared import messages
from strategy.book_records import order_row
from strategy.types import Intent, OrderRequest, OrderType, OrderUpdate, Side, TimeInForce

FOREIGN_ORDER_INCIDENT = "order-foreign:"


def track_foreign(parts: BrokerFacing, update: OrderUpdate) -> str:
    """Track it so its fills reach the operator's holding and its symbol waits for it; the
    operator is told and may cancel it. Journaled, so a later restart knows it is theirs."""
    side = update.side or Side.BUY
    last = parts.book.last_price(update.symbol)
    request = OrderRequest(
        client_order_id=update.client_order_id,
        symbol=update.symbol,
        side=side,
        qty=update.qty,
        type=OrderType.MARKET,
        tif=TimeInForce.DAY,
        limit_price=None,
        decision_price=last[0] if last else (update.filled_avg_price or 0.0),
        intent=Intent.FOREIGN,
        created_ts=parts.clock.now(),
    )
    parts.journal.record("orders", order_row(request))
    parts.book.adopt_order(request, update)
    parts.alert(
        f"{FOREIGN_ORDER_INCIDENT}{update.symbol}",
        "critical",
        messages.FOREIGN_ORDER.format(
            symbol=update.symbol,
            coid=update.client_order_id,
            side=side,
            qty=update.qty,
            status=update.status,
        ),
    )
    return f"{update.client_order_id} ({side} {update.qty} {update.symbol}): {update.status}"


def watch_foreign_orders(parts: BrokerFacing) -> None:
    """After the engine's listener (the book has the update): a fill of an operator's order is
    their holding's incident, and a final status ends the order's incident."""
    parts.broker.subscribe(partial(_on_update, parts))


def _on_update(parts: BrokerFacing, update: OrderUpdate) -> None:
    order = parts.book.order(update.client_order_id)
    if order is None or order.request.intent is not Intent.FOREIGN:
        return
    symbol, coid = update.symbol, update.client_order_id
    if update.fill is not None:
        held = parts.book.foreign().get(symbol, (0, 0.0))[0]
        parts.alert(
            f"{INCIDENT_PREFIX}{symbol}",
            "critical",
            messages.FOREIGN_FILLED.format(
                symbol=symbol, coid=coid, side=order.request.side, qty=update.fill.qty, held=held
            ),
        )
    if update.status.is_final:
        parts.resolve(f"{FOREIGN_ORDER_INCIDENT}{symbol}", f"{coid}: {update.status}")
