"""A worker's book after the account's kill: the kill's fills close the strategy's positions."""

from __future__ import annotations

import logging

from strategy.book import Book
from strategy.engine import Engine
from strategy.types import (
    Fill,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
)

log = logging.getLogger(__name__)


def close_by_kill(book: Book, engine: Engine, strategy: str, fill: Fill, ts: float) -> bool:
    """The kill closes the ACCOUNT's position in a symbol, the sum of every strategy's
    there; its fill does not say whose shares it sold. So each strategy's book closes ALL
    of its own position at the kill's first fill price (no commission: the account paid
    it). With two strategies on one account (+10 and -3: the kill sells 7), both end flat,
    as the account does; splitting the fill by its quantity would leave one holding shares
    the account no longer has, which it would later try to exit. A kill that ends NOT FLAT
    leaves the remainder with the order manager (its book holds it; the kill retries).
    True when it closed a position."""
    position = book.position(fill.symbol)
    if position is None:
        return False
    close = OrderRequest.flatten(
        f"{fill.client_order_id}-{strategy}", fill.symbol, position.qty, fill.price, ts
    )
    side, qty = close.side, close.qty
    book.add_order(close, None)
    engine.on_order_update(
        OrderUpdate(
            client_order_id=close.client_order_id,
            symbol=fill.symbol,
            status=OrderStatus.FILLED,
            filled_qty=qty,
            filled_avg_price=fill.price,
            ts=ts,
            fill=Fill(close.client_order_id, fill.symbol, side, qty, fill.price, 0.0, ts),
            reason="closed by the account's kill",
            side=side,
            qty=qty,
        )
    )
    log.warning(
        "%s %+d closed by the account's kill (%s at %.2f)",
        fill.symbol,
        position.qty,
        fill.client_order_id,
        fill.price,
    )
    return True
