"""Plain value types shared by the engine, the book, the risk gate and the venues.

Prices are floats in dollars, quantities are whole shares (positions are signed: short < 0),
times are epoch seconds (UTC) as floats.
"""

from __future__ import annotations

import enum

from strategy.value_type import value_type

# `Side.sign`, `OrderStatus.is_final` and `TradingState.allows_entries` are read several times
# an order: attributes set once per member, where a property's call cost more than its test.


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"

    sign: int  # +1 buy, -1 sell

    def __init__(self, value: str) -> None:
        self.sign = 1 if value == "buy" else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(enum.StrEnum):
    IOC = "ioc"
    DAY = "day"


class OrderStatus(enum.StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    is_final: bool

    def __init__(self, value: str) -> None:
        self.is_final = value in ("filled", "canceled", "rejected", "expired")


class TradingState(enum.StrEnum):
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"  # a person (or the dead-man): exits only
    REDUCING = "REDUCING"  # an automatic risk breach: exits only, entries refused
    HALTED = "HALTED"  # a kill or a person: nothing but the kill's own flatten orders

    allows_entries: bool

    def __init__(self, value: str) -> None:
        self.allows_entries = value == "ACTIVE"


class Intent(enum.StrEnum):
    """Why an order exists; the risk gate treats exits more leniently than entries."""

    ENTRY = "entry"
    EXIT = "exit"
    FLATTEN = "flatten"
    FOREIGN = "foreign"  # an open order the bot never sent: the operator's, its fills theirs


@value_type
class Bar:
    symbol: str
    ts: float  # bar start, epoch seconds UTC
    open: float
    high: float
    low: float
    close: float
    volume: float


@value_type
class OrderRequest:
    client_order_id: str
    symbol: str
    side: Side
    qty: int
    type: OrderType
    tif: TimeInForce
    limit_price: float | None
    decision_price: float  # the price the decision was made on; slippage is measured against it
    intent: Intent
    created_ts: float

    @classmethod
    def flatten(
        cls, client_order_id: str, symbol: str, held: int, price: float, ts: float
    ) -> OrderRequest:
        """The market order that closes a position of `held` shares (signed), decided at
        `price`: a kill's, a close-all's."""
        return cls(
            client_order_id=client_order_id,
            symbol=symbol,
            side=Side.SELL if held > 0 else Side.BUY,
            qty=abs(held),
            type=OrderType.MARKET,
            tif=TimeInForce.DAY,
            limit_price=None,
            decision_price=price,
            intent=Intent.FLATTEN,
            created_ts=ts,
        )

    @property
    def reference_price(self) -> float:
        return self.limit_price if self.limit_price is not None else self.decision_price

    @property
    def notional(self) -> float:
        return self.qty * self.reference_price


@value_type
class Fill:
    """One execution: `qty` shares at `price` (not cumulative)."""

    client_order_id: str
    symbol: str
    side: Side
    qty: int
    price: float
    commission: float
    ts: float


@value_type
class OrderUpdate:
    """What a venue reports about an order. `filled_qty` is cumulative; `fill` is the
    execution this update reports, if any."""

    client_order_id: str
    symbol: str
    status: OrderStatus
    filled_qty: int
    filled_avg_price: float | None
    ts: float
    fill: Fill | None = None
    reason: str = ""
    broker_order_id: str = ""
    side: Side | None = None  # what was ordered, where the venue says (a REST read of the order)
    qty: int = 0

    @classmethod
    def rejected(cls, order: OrderRequest, reason: str, ts: float) -> OrderUpdate:
        """The final word on an order refused before (or by) the venue: nothing filled."""
        return cls(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            status=OrderStatus.REJECTED,
            filled_qty=0,
            filled_avg_price=None,
            ts=ts,
            reason=reason,
            side=order.side,
            qty=order.qty,
        )


@value_type
class CloseAllResult:
    """What a close-all placed (the broker chose these orders' ids) and what it refused."""

    placed: tuple[OrderUpdate, ...]
    refused: tuple[str, ...]  # "SYMBOL: reason"


@value_type
class BrokerPosition:
    symbol: str
    qty: int  # signed
    avg_price: float
    market_price: float

    @property
    def market_value(self) -> float:
        return self.qty * self.market_price


@value_type
class Account:
    equity: float
    cash: float
    buying_power: float
    blocked: str = ""  # why the venue accepts no order on the account now; "" when it does
    number: str = ""  # the broker's account number ("" in the simulator)


@value_type
class MarketClock:
    is_open: bool
    ts: float
    next_open: float
    next_close: float


@value_type
class Charge:
    """Money the venue moved outside any fill (a regulatory fee, a pass-through charge; a
    dividend or interest): `amount` is what it took, so a refund or a dividend is negative."""

    ref: str  # the venue's id for it, e.g. an Alpaca account activity id
    amount: float
    reason: str
