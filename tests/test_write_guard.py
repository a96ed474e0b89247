"""Nothing that changes the account goes out while the process may not change it (the Broker's
`guard_writes`; the cluster's order manager registers its lease): an order, a cancel, the
kill's cancel-all and close-all. The check is asked in the thread that sends, after the wait
for a free one. The real alpaca-py client against the loopback Alpaca, and the simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from strategy.types import (
    Intent,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TradingState,
)
from strategy.venue import SendRefused
from strategy.venues.alpaca.broker import AlpacaBroker
from tests.fakes.alpaca import AlpacaFake
from tests.support import START, bar, eventually, make_harness
from tests.test_send_path import BusyPool, order

WRITES = ("submit_order", "cancel_orders", "close_all_positions")
NO_RIGHT = "not sent: this process may not change the account"


class RightToWrite:
    """The process's right to change the account, as the test sets it."""

    def __init__(self) -> None:
        self.refusal: str | None = None

    def __call__(self) -> str | None:
        return self.refusal


def resting_limit(client_order_id: str) -> OrderRequest:
    """A DAY buy far below the market: it rests at the broker until canceled."""
    return OrderRequest(
        client_order_id,
        "SPY",
        Side.BUY,
        1,
        OrderType.LIMIT,
        TimeInForce.DAY,
        50.0,
        100.0,
        Intent.ENTRY,
        START,
    )


async def test_alpaca_asks_the_right_to_write_in_the_thread_that_sends() -> None:
    """An order, a cancel, cancel-all and close-all each wait for a worker thread while the
    right to write is withdrawn: none reaches Alpaca (each raises SendRefused with the reason)
    and the account is as it was; once the right is back, the same calls go out."""
    pool = BusyPool(workers=4)
    asyncio.get_running_loop().set_default_executor(pool)
    right = RightToWrite()
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = 100.0
        alpaca.positions["SPY"] = (10, 100.0)
        alpaca.delay_fills = True  # orders rest as "new"
        broker = AlpacaBroker.connect(
            "PKTEST",
            "secret-test",
            True,
            alpaca.trading_url,
            alpaca.trading_stream_url,
            requests_per_min=60_000,
            commission_per_share=0.0,
        )
        broker.guard_writes(right)
        resting = resting_limit("tb-SPY-resting")
        await broker.submit(resting)
        try:
            pool.hold()
            calls = [
                asyncio.ensure_future(broker.submit(resting_limit("tb-SPY-next"))),
                asyncio.ensure_future(broker.cancel(resting.client_order_id)),
                asyncio.ensure_future(broker.cancel_all()),
                asyncio.ensure_future(broker.close_all()),
            ]
            await eventually(lambda: all(name in pool.queued for name in WRITES))
            right.refusal = NO_RIGHT
            pool.release()
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            assert [type(o) for o in outcomes] == [SendRefused] * 4, outcomes
            assert all(str(o) == NO_RIGHT for o in outcomes)
            written = [r for r in alpaca.requests if r[0] in ("POST", "DELETE")]
            assert written == [("POST", "/v2/orders")]  # the resting order, before
            assert alpaca.positions == {"SPY": (10, 100.0)}
            assert alpaca.orders_for("tb-SPY-resting")[0]["status"] == "new"

            right.refusal = None
            await broker.cancel(resting.client_order_id)
            await broker.close_all()
            assert alpaca.orders_for("tb-SPY-resting")[0]["status"] == "canceled"
            assert ("DELETE", "/v2/positions") in alpaca.requests
        finally:
            pool.release()
            await broker.stop()


async def test_the_simulator_asks_the_right_to_write_before_every_change(
    tmp_path: Path,
) -> None:
    """The simulated broker, interchangeable with Alpaca: without the right to write, an
    order (a kill's flatten order too), a cancel, cancel-all and close-all raise SendRefused
    and change nothing; with it, the kill's own requests go out while HALTED as before."""
    h = make_harness(tmp_path)
    await h.push(bar("SPY", 0, 100.0))
    broker = h.broker
    await broker.submit(order("tb-SPY-held", Intent.ENTRY))
    await h.push(bar("SPY", 60, 100.0))
    resting = resting_limit("tb-SPY-resting")
    await broker.submit(resting)
    right = RightToWrite()
    right.refusal = NO_RIGHT
    broker.guard_writes(right)
    h.service.set_state(TradingState.HALTED, "kill by U1", "U1")
    for call in (
        lambda: broker.submit(order("kill-SPY-1", Intent.FLATTEN)),
        lambda: broker.cancel(resting.client_order_id),
        broker.cancel_all,
        broker.close_all,
    ):
        with pytest.raises(SendRefused, match=NO_RIGHT):
            await call()
    assert [(p.symbol, p.qty) for p in await broker.positions()] == [("SPY", 10)]
    assert [o.client_order_id for o in await broker.open_orders()] == ["tb-SPY-resting"]
    assert await broker.get_order("kill-SPY-1") is None

    right.refusal = None
    closed = await broker.close_all()
    assert [ack.status for ack in closed.placed] == [OrderStatus.ACCEPTED]
    updated = await broker.get_order(resting.client_order_id)
    assert updated is not None and updated.status is OrderStatus.CANCELED
