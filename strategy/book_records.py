"""The book's records: an order as the book tracks it (its status, the shares filled so far,
the status changes allowed from each state), a position, and an order as the journal keeps
it."""

from __future__ import annotations

from dataclasses import dataclass

from strategy.params import StrategyParams
from strategy.types import OrderRequest, OrderStatus, OrderUpdate

_S = OrderStatus
ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.NEW: frozenset(
        {_S.ACCEPTED, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REJECTED, _S.EXPIRED}
    ),
    _S.ACCEPTED: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REJECTED, _S.EXPIRED}),
    _S.PARTIALLY_FILLED: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.EXPIRED}),
}


def order_row(r: OrderRequest) -> dict[str, object]:
    """An order as the journal keeps it. str() of a StrEnum is its value (a plain str), at a
    third of the cost of `.value` (a property): these rows are built several times an order."""
    return {
        "ts": r.created_ts,
        "client_order_id": r.client_order_id,
        "symbol": r.symbol,
        "side": str(r.side),
        "qty": r.qty,
        "type": str(r.type),
        "tif": str(r.tif),
        "limit_price": r.limit_price,
        "decision_price": r.decision_price,
        "intent": str(r.intent),
    }


def update_row(u: OrderUpdate) -> dict[str, object]:
    return {
        "ts": u.ts,
        "client_order_id": u.client_order_id,
        "status": str(u.status),
        "filled_qty": u.filled_qty,
        "avg_price": u.filled_avg_price,
        "reason": u.reason,
    }


def fill_row(
    r: OrderRequest, ts: float, qty: int, price: float, commission: float, slippage_bps: float
) -> dict[str, object]:
    return {
        "ts": ts,
        "client_order_id": r.client_order_id,
        "symbol": r.symbol,
        "side": str(r.side),
        "qty": qty,
        "price": price,
        "commission": commission,
        "slippage_bps": slippage_bps,
        "decision_price": r.decision_price,
    }


@dataclass(slots=True)
class BookOrder:
    request: OrderRequest
    status: OrderStatus
    filled_qty: int
    avg_fill_price: float | None
    params: StrategyParams | None
    broker_order_id: str = ""
    reason: str = ""

    @property
    def working(self) -> bool:
        return not self.status.is_final


@dataclass(slots=True)
class Position:
    symbol: str
    qty: int
    avg_price: float
    realized_pnl: float
    entry_params: StrategyParams | None
    opened_ts: float
