"""The engine end to end on the simulated broker: bars in, orders out, fills in the book."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from strategy.order_ids import client_order_id, order_prefix
from strategy.types import Intent, OrderRequest, OrderStatus, OrderType, OrderUpdate, Side
from strategy.venue import BrokerUnavailable
from strategy.venues.sim import SimBroker
from tests.support import bar, make_harness, settle

CALM = [
    100.0,
    100.05,
    99.98,
    100.03,
    99.99,
    100.02,
    100.0,
    100.04,
    99.97,
    100.01,
    100.03,
    99.98,
    100.02,
    100.0,
    99.99,
    100.03,
    100.01,
    99.98,
    100.02,
    100.0,
]


def reference_z_vol(closes: list[float]) -> tuple[float, float]:
    """The article's per-bar computation, with numpy, on the last 20 closes."""
    returns = np.diff(np.log(np.array(closes[-20:])))
    vol = float(np.std(returns[-10:]) * np.sqrt(252 * 390))
    z = float((returns[-1] - np.mean(returns)) / (np.std(returns) + 1e-8))
    return z, vol


async def test_a_sharp_drop_places_a_limit_ioc_buy_sized_by_volatility(tmp_path: Path) -> None:
    """Entry: z < -entry_z buys at close*(1-0.001) floored to the cent, qty from the 1% rule."""
    h = make_harness(tmp_path)
    closes = [*CALM, 98.0]
    await h.push(*(bar("SPY", i, c) for i, c in enumerate(closes)))
    z, vol = reference_z_vol(closes)
    assert z < -2.0
    coid = client_order_id("SPY", bar("SPY", 20, 98.0).ts, Intent.ENTRY)
    order = h.service.book.order(coid)
    assert order is not None
    expected_qty = max(1, min(100, math.floor(100_000 * 0.01 / (2 * vol + 1e-6) / 98.0)))
    assert order.request.side is Side.BUY
    assert order.request.type is OrderType.LIMIT
    assert order.request.limit_price == 97.90  # 98 * 0.999 = 97.902 -> floored to the cent
    assert order.request.qty == expected_qty
    assert order.status is OrderStatus.ACCEPTED
    h.journal.flush()
    assert [r["action"] for r in h.journal.query("select action from signals")] == ["entry"]


async def test_the_entry_fills_on_the_next_bar_and_exits_when_z_reverts(tmp_path: Path) -> None:
    """Fill at the next open if marketable; later |z| < exit_z closes with a market IOC."""
    h = make_harness(tmp_path, **{"strategy.signal_cooldown_sec": 0})
    closes = [*CALM, 98.0]
    await h.push(*(bar("SPY", i, c) for i, c in enumerate(closes)))
    qty = h.service.book.working_orders()[0].request.qty
    await h.push(bar("SPY", 21, 97.95, open_=97.85))
    position = h.service.book.position("SPY")
    assert position is not None and position.qty == qty
    assert position.avg_price == 97.85
    assert position.entry_params == h.service.engine.params
    minute = 22
    while h.service.book.position("SPY") is not None and minute < 60:
        await h.push(bar("SPY", minute, 97.95 + 0.01 * (minute % 2)))
        minute += 1
    assert h.service.book.position("SPY") is None
    assert h.service.book.working_orders() == []
    h.journal.flush()
    intents = [r["intent"] for r in h.journal.query("select intent from orders order by id")]
    assert intents == ["entry", "exit"]


async def test_open_positions_exit_under_their_entry_parameters(tmp_path: Path) -> None:
    """A new exit_z does not apply to a position opened before it, unless applied explicitly."""
    h = make_harness(tmp_path)
    await h.push(*(bar("SPY", i, c) for i, c in enumerate([*CALM, 98.0])))
    await h.push(bar("SPY", 21, 97.95, open_=97.85))
    engine = h.service.engine
    engine.set_params(replace(engine.params, exit_z=0.01), apply_to_open=False)
    position = h.service.book.position("SPY")
    assert position is not None and position.entry_params is not None
    assert position.entry_params.exit_z == 0.5
    engine.set_params(replace(engine.params, exit_z=0.02), apply_to_open=True)
    position = h.service.book.position("SPY")
    assert position is not None and position.entry_params is not None
    assert position.entry_params.exit_z == 0.02


async def test_cooldown_blocks_a_second_signal_on_the_same_symbol(tmp_path: Path) -> None:
    """After a signal, the symbol stays quiet for signal_cooldown_sec of market time."""
    h = make_harness(tmp_path, **{"strategy.signal_cooldown_sec": 600})
    await h.push(*(bar("SPY", i, c) for i, c in enumerate([*CALM, 98.0])))
    await h.push(bar("SPY", 21, 98.5, open_=98.5))  # not marketable: IOC canceled
    assert h.service.book.working_orders() == []
    await h.push(bar("SPY", 22, 96.0))  # another big move, inside the cooldown
    assert h.service.engine.counters.signals == 1


class PlacedButTimedOut(SimBroker):
    """A venue that places the order and then loses the response (a timeout in transit)."""

    async def submit(self, order: OrderRequest) -> OrderUpdate:
        await super().submit(order)
        raise BrokerUnavailable("read timeout")


async def test_a_submit_timeout_is_resolved_by_client_order_id_not_resent(tmp_path: Path) -> None:
    """The order is looked up by client_order_id: it stays live in the book, never sent twice."""
    h = make_harness(tmp_path)
    broker = h.swap_broker(PlacedButTimedOut)
    await h.push(*(bar("SPY", i, c) for i, c in enumerate([*CALM, 98.0])))
    (order,) = h.service.book.working_orders()
    assert order.status is OrderStatus.ACCEPTED
    assert len(await broker.open_orders()) == 1
    assert h.service.engine.counters.broker_rejects == 0


class SlowBroker(SimBroker):
    """A venue whose submit waits until released."""

    release: asyncio.Event

    async def submit(self, order: OrderRequest) -> OrderUpdate:
        await self.release.wait()
        return await super().submit(order)


async def test_a_slow_venue_never_holds_up_the_next_bars(tmp_path: Path) -> None:
    """Bars keep flowing while a submit is in flight; the symbol waits on its working order."""
    h = make_harness(tmp_path)
    broker = h.swap_broker(SlowBroker)
    broker.release = asyncio.Event()
    await h.push(*(bar("SPY", i, c) for i, c in enumerate([*CALM, 98.0])))
    await h.push(*(bar("QQQ", i, 300.0) for i in range(30)))
    assert h.service.engine.counters.bars == 51
    (order,) = h.service.book.working_orders()
    assert order.status is OrderStatus.NEW
    broker.release.set()
    await settle()
    assert order.status is OrderStatus.ACCEPTED


def test_an_order_ids_prefix_reads_back_from_the_right() -> None:
    """Strategy names may hold '-', symbols and times never do: the prefix parses back."""
    coid = client_order_id("BRK.B", 1_767_364_200.0, Intent.EXIT, "tb-Mean-Rev_2")
    assert coid == "tb-Mean-Rev_2-BRK.B-1767364200-e"
    assert order_prefix(coid) == "tb-Mean-Rev_2"
    assert order_prefix("flatten-SPY-3") is None
