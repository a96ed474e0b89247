"""Conversions between alpaca-py models and the core's value types, and error mapping."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderSide
from alpaca.trading.enums import TimeInForce as AlpacaTif
from alpaca.trading.models import Clock, Order, Position, TradeAccount, TradeUpdate
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from strategy.types import (
    Account,
    BrokerPosition,
    Fill,
    MarketClock,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)
from strategy.venue import BrokerAuthError, BrokerError, BrokerUnavailable, OrderRejected

# Alpaca's order statuses as ours. Any status that may still lead to a fill maps to a working
# one: a final one would make the tracker drop that fill as old news.
STATUS = {
    "new": OrderStatus.ACCEPTED,
    "accepted": OrderStatus.ACCEPTED,
    "pending_new": OrderStatus.NEW,
    "accepted_for_bidding": OrderStatus.ACCEPTED,
    "held": OrderStatus.ACCEPTED,
    "calculated": OrderStatus.ACCEPTED,
    "pending_cancel": OrderStatus.ACCEPTED,
    "pending_replace": OrderStatus.ACCEPTED,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "done_for_day": OrderStatus.EXPIRED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "replaced": OrderStatus.CANCELED,
    "stopped": OrderStatus.ACCEPTED,  # a trade is guaranteed and still to come: working
    "suspended": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
}


class RateLimited(BrokerUnavailable):
    """429: slow down, then retry."""


class NotFound(OrderRejected):
    """404: no such order or position (Alpaca code 40410000 for positions)."""


FILL_EVENTS = frozenset({"fill", "partial_fill"})


def order_request(order: OrderRequest) -> MarketOrderRequest | LimitOrderRequest:
    common = {
        "symbol": order.symbol,
        "qty": order.qty,
        "side": OrderSide.BUY if order.side is Side.BUY else OrderSide.SELL,
        "time_in_force": AlpacaTif.IOC if order.tif is TimeInForce.IOC else AlpacaTif.DAY,
        "client_order_id": order.client_order_id,
    }
    if order.type is OrderType.LIMIT and order.limit_price is not None:
        return LimitOrderRequest(limit_price=round(order.limit_price, 2), **common)
    return MarketOrderRequest(**common)


def wire_value(enum_or_text: object) -> str:
    """What Alpaca sent: an alpaca-py enum's value, or the text it could not map."""
    return str(getattr(enum_or_text, "value", enum_or_text))


def _ts(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0


def order_update(order: Order) -> OrderUpdate:
    avg = order.filled_avg_price
    return OrderUpdate(
        client_order_id=order.client_order_id,
        symbol=str(order.symbol),
        status=STATUS.get(wire_value(order.status), OrderStatus.ACCEPTED),
        filled_qty=int(float(order.filled_qty or 0)),
        filled_avg_price=float(avg) if avg is not None else None,
        ts=_ts(order.updated_at),
        broker_order_id=str(order.id),
        side=Side.BUY if wire_value(order.side) == "buy" else Side.SELL,
        qty=int(float(order.qty or 0)),
    )


def trade_update(update: TradeUpdate, commission_per_share: float) -> OrderUpdate:
    """A trade_updates event; fills carry this execution's qty and price."""
    base = order_update(update.order)
    event = wire_value(update.event)
    fill = None
    if event in FILL_EVENTS and update.qty and update.price is not None:
        qty = int(float(update.qty))
        fill = Fill(
            client_order_id=base.client_order_id,
            symbol=base.symbol,
            side=base.side or Side.BUY,
            qty=qty,
            price=float(update.price),
            commission=qty * commission_per_share,
            ts=_ts(update.timestamp),
        )
    return replace(base, ts=_ts(update.timestamp), fill=fill, reason=event)


def implied_fill(
    update: OrderUpdate, before: OrderUpdate | None, commission_per_share: float
) -> OrderUpdate:
    """A view read over REST carries no execution: if it shows more shares filled than the
    last view passed on (`before`), those shares become one Fill at the price the averages
    imply, with their commission, as the stream's fill event would have carried."""
    if update.fill is not None or update.filled_avg_price is None:
        return update
    known_qty = before.filled_qty if before is not None else 0
    known_avg = (before.filled_avg_price or 0.0) if before is not None else 0.0
    qty = update.filled_qty - known_qty
    if qty <= 0:
        return update
    price = (update.filled_avg_price * update.filled_qty - known_avg * known_qty) / qty
    fill = Fill(
        client_order_id=update.client_order_id,
        symbol=update.symbol,
        side=update.side or Side.BUY,
        qty=qty,
        price=price,
        commission=qty * commission_per_share,
        ts=update.ts,
    )
    return replace(update, fill=fill)


# TradeAccount flags under which Alpaca accepts no order on the account, exits included
BLOCKING_FLAGS = ("account_blocked", "trading_blocked", "trade_suspended_by_user")


def broker_position(p: Position) -> BrokerPosition:
    return BrokerPosition(
        symbol=p.symbol,
        qty=int(float(p.qty)),
        avg_price=float(p.avg_entry_price),
        market_price=float(p.current_price or p.avg_entry_price),
    )


def account_of(a: TradeAccount) -> Account:
    return Account(
        equity=float(a.equity),  # type: ignore[arg-type]
        cash=float(a.cash),  # type: ignore[arg-type]
        buying_power=float(a.buying_power),  # type: ignore[arg-type]
        blocked=", ".join(flag for flag in BLOCKING_FLAGS if getattr(a, flag, None)),
        number=str(a.account_number),
    )


def market_clock(c: Clock) -> MarketClock:
    return MarketClock(
        c.is_open, c.timestamp.timestamp(), c.next_open.timestamp(), c.next_close.timestamp()
    )


def broker_error(exc: Exception) -> BrokerError:
    """Group alpaca-py / requests failures by what the caller must do."""
    if isinstance(exc, APIError):
        status = exc.status_code or 0
        try:
            message = exc.message
        except (KeyError, ValueError, TypeError):
            message = str(exc)
        if status == 401:
            return BrokerAuthError(f"Alpaca refused the credentials ({status}): {message}")
        if status == 429:
            return RateLimited(f"Alpaca 429: {message}")
        if status >= 500:
            return BrokerUnavailable(f"Alpaca {status}: {message}")
        if status == 404:
            return NotFound(f"Alpaca 404: {message}")
        return OrderRejected(f"Alpaca {status}: {message}")
    if isinstance(exc, requests.RequestException):
        return BrokerUnavailable(f"Alpaca unreachable: {type(exc).__name__}: {exc}")
    return BrokerUnavailable(f"Alpaca call failed: {type(exc).__name__}: {exc}")
