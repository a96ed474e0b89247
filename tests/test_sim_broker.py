"""The simulated broker: next-bar fills, IOC limits, partial fills, rejects, flattening."""

from __future__ import annotations

import pytest

from strategy.clock import ManualClock
from strategy.types import (
    Bar,
    Intent,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)
from strategy.venue import OrderRejected
from strategy.venues.sim import SimBroker, SimSettings


def bar(open_: float, close: float | None = None, symbol: str = "SPY") -> Bar:
    c = open_ if close is None else close
    return Bar(symbol, 0.0, open_, max(open_, c), min(open_, c), c, 100)


def order(
    coid: str,
    side: Side,
    qty: int,
    limit: float | None = None,
    tif: TimeInForce = TimeInForce.IOC,
    symbol: str = "SPY",
) -> OrderRequest:
    kind = OrderType.MARKET if limit is None else OrderType.LIMIT
    return OrderRequest(coid, symbol, side, qty, kind, tif, limit, 100.0, Intent.ENTRY, 0.0)


class Broker:
    def __init__(self, **settings: float) -> None:
        self.sim = SimBroker(SimSettings(**settings), ManualClock())  # type: ignore[arg-type]
        self.updates: list[OrderUpdate] = []
        self.sim.subscribe(self.updates.append)
        self.sim.on_bar(bar(100.0))

    def statuses(self, coid: str) -> list[OrderStatus]:
        return [u.status for u in self.updates if u.client_order_id == coid]


async def test_market_order_fills_at_the_next_open_with_slippage_and_commission() -> None:
    """Buy 10 at market: next open 101 x (1 + 2 bps) = 101.0202; commission 10 x 0.005."""
    b = Broker(slippage_bps=2.0)
    ack = await b.sim.submit(order("m1", Side.BUY, 10))
    assert ack.status is OrderStatus.ACCEPTED
    b.sim.on_bar(bar(101.0))
    fill = b.updates[-1].fill
    assert fill is not None and fill.price == pytest.approx(101.0202) and fill.commission == 0.05
    account = await b.sim.account()
    assert account.cash == pytest.approx(100_000 - 1010.202 - 0.05)
    (position,) = await b.sim.positions()
    assert (position.qty, position.avg_price) == (10, pytest.approx(101.0202))


async def test_ioc_limit_fills_with_price_improvement_when_marketable() -> None:
    """Buy limit 99.90 and the next open 99.80: filled at 99.80."""
    b = Broker()
    await b.sim.submit(order("l1", Side.BUY, 5, limit=99.90))
    b.sim.on_bar(bar(99.80))
    assert b.statuses("l1") == [OrderStatus.ACCEPTED, OrderStatus.FILLED]
    assert b.updates[-1].filled_avg_price == pytest.approx(99.80)


async def test_ioc_limit_not_marketable_is_canceled() -> None:
    """Sell limit 100.10 and the next open 100.05: canceled, nothing filled."""
    b = Broker()
    await b.sim.submit(order("l2", Side.SELL, 5, limit=100.10))
    b.sim.on_bar(bar(100.05))
    assert b.statuses("l2") == [OrderStatus.ACCEPTED, OrderStatus.CANCELED]
    assert b.updates[-1].reason == "IOC limit not marketable"
    assert await b.sim.positions() == []


async def test_partial_fill_then_the_ioc_remainder_is_canceled() -> None:
    """With partial_fill_prob 1, an IOC fills part and cancels the rest."""
    b = Broker(partial_fill_prob=1.0, seed=3)
    await b.sim.submit(order("p1", Side.BUY, 10))
    b.sim.on_bar(bar(100.0))
    assert b.statuses("p1") == [
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.CANCELED,
    ]
    filled = b.updates[-1].filled_qty
    assert 1 <= filled <= 9
    (position,) = await b.sim.positions()
    assert position.qty == filled


async def test_a_day_limit_rests_until_the_market_crosses_it() -> None:
    """A DAY buy limit at 99 waits through 100.5 and fills when the open reaches 98.9."""
    b = Broker()
    await b.sim.submit(order("d1", Side.BUY, 3, limit=99.0, tif=TimeInForce.DAY))
    b.sim.on_bar(bar(100.5))
    assert b.statuses("d1") == [OrderStatus.ACCEPTED]
    b.sim.on_bar(bar(98.9))
    assert b.statuses("d1")[-1] is OrderStatus.FILLED
    assert b.updates[-1].filled_avg_price == pytest.approx(98.9)


async def test_duplicate_client_order_id_is_not_a_second_order() -> None:
    """Submitting the same client_order_id twice returns the first order."""
    b = Broker()
    first = await b.sim.submit(order("dup", Side.BUY, 1))
    again = await b.sim.submit(order("dup", Side.BUY, 1))
    assert again.broker_order_id == first.broker_order_id
    assert len(await b.sim.open_orders()) == 1


async def test_rejects_for_buying_power_and_unknown_price() -> None:
    """More than the account can buy, or a symbol with no price yet, raises OrderRejected."""
    b = Broker(starting_cash=1_000.0)
    with pytest.raises(OrderRejected, match="insufficient buying power"):
        await b.sim.submit(order("bp", Side.BUY, 11))
    with pytest.raises(OrderRejected, match="no market price"):
        await b.sim.submit(order("np", Side.BUY, 1, symbol="QQQ"))


async def test_cancel_and_cancel_all() -> None:
    """Working orders become CANCELED; final ones are left alone."""
    b = Broker()
    await b.sim.submit(order("c1", Side.BUY, 1, limit=90.0, tif=TimeInForce.DAY))
    await b.sim.submit(order("c2", Side.SELL, 1, limit=110.0, tif=TimeInForce.DAY))
    await b.sim.cancel("c1")
    await b.sim.cancel_all()
    assert b.statuses("c1")[-1] is OrderStatus.CANCELED
    assert b.statuses("c2")[-1] is OrderStatus.CANCELED
    assert await b.sim.open_orders() == []


async def test_close_all_flattens_long_and_short_on_the_next_bar() -> None:
    """close_all sends market orders that bring every position to zero."""
    b = Broker()
    b.sim.on_bar(bar(50.0, symbol="QQQ"))
    await b.sim.submit(order("L", Side.BUY, 5))
    await b.sim.submit(order("S", Side.SELL, 4, symbol="QQQ"))
    b.sim.on_bar(bar(100.0))
    b.sim.on_bar(bar(50.0, symbol="QQQ"))
    assert {p.symbol: p.qty for p in await b.sim.positions()} == {"SPY": 5, "QQQ": -4}
    result = await b.sim.close_all()
    assert {(u.symbol, u.status) for u in result.placed} == {
        ("SPY", OrderStatus.ACCEPTED),
        ("QQQ", OrderStatus.ACCEPTED),
    }
    b.sim.on_bar(bar(100.0))
    b.sim.on_bar(bar(50.0, symbol="QQQ"))
    assert await b.sim.positions() == []


async def test_refuse_next_close_rejects_one_flatten_order() -> None:
    """The drill hook rejects the next flatten order, then lets the retry through."""
    b = Broker()
    await b.sim.submit(order("L", Side.BUY, 5))
    b.sim.on_bar(bar(100.0))
    b.sim.refuse_next_close("SPY")
    await b.sim.close_all()
    b.sim.on_bar(bar(100.0))
    assert b.updates[-1].status is OrderStatus.REJECTED
    assert b.updates[-1].reason == "simulated refusal"
    await b.sim.close_all()
    b.sim.on_bar(bar(100.0))
    assert await b.sim.positions() == []
