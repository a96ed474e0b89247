"""Every kill ends HALTED and with an outcome: a kill that joins a running one halts too, and a
kill that raises is a NOT FLAT outcome carrying its error, retried by keep-flattening."""

from __future__ import annotations

import asyncio
from pathlib import Path

from strategy.types import BrokerPosition, TradingState
from strategy.venues.sim import SimBroker
from tests.support import eventually, make_harness
from tests.test_kill_switch import FAST, Market, holding, kill_rows


async def test_a_kill_that_joins_a_running_one_halts_trading_again(tmp_path: Path) -> None:
    """Kill, trading made ACTIVE during it (as a stale resume did), a second operator's kill:
    it joins the running flight and trading is HALTED again, and stays so once flat."""
    h = make_harness(tmp_path, **FAST)
    market = Market(h)
    await holding(h, market, SPY=10)
    first = asyncio.create_task(h.service.kill("U1"))
    await eventually(lambda: h.service.kill_switch.running)
    h.service.set_state(TradingState.ACTIVE, "resumed by U1", "U1")
    second = asyncio.create_task(h.service.kill("U2"))
    await asyncio.sleep(0)
    assert h.service.gate.state is TradingState.HALTED
    assert h.service.gate.state_reason == "kill by U2"
    await market.until(asyncio.gather(first, second))
    assert second.result() is first.result() and first.result().flat
    assert h.service.gate.state is TradingState.HALTED
    assert h.service.kill_switch.status().kills == 2


class PositionsUnreadableOnce(SimBroker):
    """The first position read cannot be parsed (a field Alpaca sent that we do not expect)."""

    reads = 0

    async def positions(self) -> list[BrokerPosition]:
        self.reads += 1
        if self.reads == 1:
            raise ValueError("invalid literal for int() with base 10: '10.5'")
        return await super().positions()


async def test_a_kill_that_raises_is_not_flat_with_its_error_and_keeps_flattening(
    tmp_path: Path,
) -> None:
    """A ValueError in the kill's first position read: the caller gets a NOT FLAT report with
    the error; the outcome is journaled and an incident; keep-flattening then closes SPY."""
    h = make_harness(tmp_path, **FAST)
    h.swap_broker(PositionsUnreadableOnce)
    h.service.kill_switch.retry_sec = 0.01
    market = Market(h)
    await holding(h, market, SPY=10)
    report = await h.service.kill("U1")
    assert not report.flat
    assert report.errors == (
        "the kill failed: ValueError(\"invalid literal for int() with base 10: '10.5'\")",
    )
    last = h.service.kill_switch.status().last
    assert last is not None and last.flat is False and not last.running
    assert "the kill failed: ValueError" in h.service.open_alerts["kill"]
    assert "flat=False" in kill_rows(h)[0] and "the kill failed" in kill_rows(h)[0]
    assert h.service.gate.state is TradingState.HALTED
    await eventually(lambda: h.service.kill_switch.running)  # keep-flattening's retry
    while h.service.kill_switch.running or await h.broker.positions():
        await market.step()
        await asyncio.sleep(0.01)
    assert h.service.book.positions() == []
    await eventually(lambda: "kill" not in h.service.open_alerts)
