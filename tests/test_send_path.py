"""An order goes out only if the state allows it at the moment it is sent, however long it
waited for a worker thread (issue 22, case 5): the real alpaca-py client against the loopback
Alpaca with the loop's thread pool held busy, and the simulated broker."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

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
from tests.support import START, bar, eventually, make_harness
from tests.test_alpaca import start_live, stop_live


class BusyPool(ThreadPoolExecutor):
    """The loop's default thread pool (journal flushes, REST reads and backfills share it),
    which a test can hold busy; it notes the name of every function queued in it."""

    def __init__(self, workers: int = 2) -> None:
        super().__init__(max_workers=workers, thread_name_prefix="busy-pool")
        self._workers = workers
        self._free = threading.Event()
        self.queued: list[str] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        # asyncio.to_thread queues partial(context.run, function, *arguments)
        parts = fn.args if isinstance(fn, functools.partial) else (fn, *args)
        self.queued.extend(getattr(part, "__name__", "") for part in parts)
        return super().submit(fn, *args, **kwargs)

    def hold(self) -> None:
        """Every worker waits until `release()`; what is queued from now on is noted afresh."""
        self._free.clear()
        self.queued.clear()
        for _ in range(self._workers):
            super().submit(self._free.wait)

    def release(self) -> None:
        self._free.set()


async def test_an_entry_waiting_for_a_worker_thread_is_not_sent_after_a_halt(
    tmp_path: Path,
) -> None:
    """A kill comes while an entry's request waits for a free worker thread: the state is asked
    in that thread right before the request, so the entry never reaches Alpaca; the kill's own
    flatten orders still go out while HALTED (SPY's close is refused once and sent again)."""
    pool = BusyPool()
    asyncio.get_running_loop().set_default_executor(pool)
    live = await start_live(tmp_path)
    try:
        await live.drop_to_entry("SPY")
        await eventually(lambda: live.service.book.position("SPY") is not None)
        pool.hold()
        await live.drop_to_entry("QQQ")
        await eventually(lambda: "submit_order" in pool.queued)  # the entry waits for a thread
        (entry,) = live.service.book.working_orders()
        assert entry.request.symbol == "QQQ"
        live.alpaca.refuse_close("SPY")
        kill = asyncio.create_task(live.service.kill("U1"))
        await eventually(lambda: live.service.gate.state is TradingState.HALTED)
        pool.release()
        report = await kill
        assert entry.status is OrderStatus.REJECTED and "HALTED" in entry.reason
        assert live.alpaca.orders_for(entry.request.client_order_id) == []
        assert report.flat, report
        assert live.alpaca.positions == {}
    finally:
        pool.release()
        await stop_live(live)


def order(client_order_id: str, intent: Intent) -> OrderRequest:
    return OrderRequest(
        client_order_id,
        "SPY",
        Side.BUY,
        10,
        OrderType.MARKET,
        TimeInForce.DAY,
        None,
        100.0,
        intent,
        START,
    )


async def test_the_simulator_asks_the_state_as_it_takes_the_order(tmp_path: Path) -> None:
    """The simulated broker asks the engine's check in the same step as it books the order
    (nothing awaits in between): under a HALT an entry is refused and never booked, while a
    kill's flatten order is taken."""
    h = make_harness(tmp_path)
    await h.push(bar("SPY", 0, 100.0))
    h.service.set_state(TradingState.HALTED, "kill by U1", "U1")
    with pytest.raises(SendRefused, match="HALTED"):
        await h.broker.submit(order("tb-SPY-entry", Intent.ENTRY))
    assert await h.broker.get_order("tb-SPY-entry") is None
    flatten = await h.broker.submit(order("kill-SPY-1", Intent.FLATTEN))
    assert flatten.status is OrderStatus.ACCEPTED
