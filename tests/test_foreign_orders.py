"""An open order the bot never sent stays the operator's until adopted (issue 22, case 8): its
fills are their holding (an incident with the adopt route, counted in exposure, never traded
by the strategy), and it is tracked like ours, so a fill while the trading stream is down is
found when it reconnects. The real alpaca-py clients against the loopback Alpaca."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.account import watched_parts
from ops.service.recovery import recover
from ops.watch.monitor import Monitor
from strategy.book import Book
from strategy.clock import ManualClock
from strategy.recorder import MemoryRecorder
from strategy.types import (
    Fill,
    Intent,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)
from strategy.venues.alpaca.broker import AlpacaBroker
from tests.fakes.alpaca import AlpacaFake
from tests.support import START, eventually
from tests.test_alpaca import Live, start_live, stop_live
from tests.test_recovery import service_on


def test_an_operators_sale_moves_their_holding_and_their_pnl_not_the_books_cash() -> None:
    """The operator sells 4 of their 10 SPY (cost $100) at $110 through their own order: their
    holding is 6 at $100, the +$40 less commission is their P&L (journaled), and the book's
    cash, positions and equity do not move."""
    recorder = MemoryRecorder()
    book = Book(100_000.0, ManualClock(start=START), recorder)
    book.hold_foreign("SPY", 10, 100.0)
    sale = OrderRequest(
        "by-hand-2", "SPY", Side.SELL, 4, OrderType.MARKET, TimeInForce.DAY, None, 110.0,
        Intent.FOREIGN, START,
    )  # fmt: skip
    book.adopt_order(sale, OrderUpdate("by-hand-2", "SPY", OrderStatus.ACCEPTED, 0, None, START))
    fill = Fill("by-hand-2", "SPY", Side.SELL, 4, 110.0, 0.04, START)
    book.apply(OrderUpdate("by-hand-2", "SPY", OrderStatus.FILLED, 4, 110.0, START, fill))
    assert book.foreign()["SPY"] == (6, 100.0) and book.position("SPY") is None
    assert book.operator_pnl == pytest.approx(39.96)
    assert book.cash == 100_000.0 and book.equity() == 100_000.0
    assert [r["amount"] for r in recorder.of("operator_pnl")] == [pytest.approx(39.96)]
    assert recorder.of("fills") == []


async def place_by_hand(alpaca: AlpacaFake, client_order_id: str, qty: int) -> None:
    """The operator buys SPY at Alpaca with another client; with delay_fills it rests."""
    placer = AlpacaBroker.connect(
        "PKTEST", "secret-test", True, alpaca.trading_url, "", 60_000, 0.0, 0.5
    )
    await placer.submit(
        OrderRequest(
            client_order_id,
            "SPY",
            Side.BUY,
            qty,
            OrderType.MARKET,
            TimeInForce.DAY,
            None,
            100.0,
            Intent.ENTRY,
            START,
        )
    )


async def started_with_a_foreign_order(tmp_path: Path) -> Live:
    """A running service whose start-up recovery found the operator's resting buy of 10 SPY
    (placed while the stream told nothing of it, as before a start)."""
    live = await start_live(tmp_path)
    live.alpaca.prices["SPY"] = 100.0
    live.alpaca.delay_fills = True
    live.alpaca.mute_trade_updates = True
    await place_by_hand(live.alpaca, "by-hand-1", 10)
    live.alpaca.mute_trade_updates = False
    report = await recover(live.service.broker_facing())
    assert report.foreign_orders and live.service.book.has_working_order("SPY")
    return live


def held_for_the_operator(live: Live, qty: int) -> None:
    book, alerts = live.service.book, live.service.open_alerts
    assert book.position("SPY") is None and book.foreign()["SPY"][0] == qty
    assert "/trade adopt SPY" in alerts["reconcile:SPY"] and "by-hand-1" in alerts["reconcile:SPY"]
    assert book.gross_exposure() == pytest.approx(qty * 100.0)
    assert book.equity() == pytest.approx(100_000.0)


async def test_a_fill_of_an_operators_order_is_theirs_not_the_strategys(tmp_path: Path) -> None:
    """The order fills (stream up): the 10 shares are held for the operator, not the book's
    position (so the strategy never trades them), and the order's incident closes."""
    live = await started_with_a_foreign_order(tmp_path)
    try:
        live.alpaca.fill_pending()
        book = live.service.book
        await eventually(lambda: not book.has_working_order("SPY"))
        held_for_the_operator(live, 10)
        assert "order-foreign:SPY" not in live.service.open_alerts
    finally:
        await stop_live(live)


async def test_a_fill_while_the_stream_is_down_is_found_after_it_reconnects(
    tmp_path: Path,
) -> None:
    """The operator's order fills while the trading stream is down: the re-read after the
    reconnect finds it, as it does ours. Broker +10 is the operator's +10 in the book, the
    order is final (SPY no longer frozen) and cash reconciles."""
    live = await started_with_a_foreign_order(tmp_path)
    try:
        live.alpaca.mute_trade_updates = True
        live.alpaca.fill_pending()
        live.alpaca.mute_trade_updates = False
        await live.alpaca.drop_trading_connections()
        book = live.service.book
        await eventually(lambda: not book.has_working_order("SPY"), within=15)
        held_for_the_operator(live, 10)
        await Monitor(watched_parts(live.service)).reconcile()
        assert "cash" not in live.service.open_alerts
    finally:
        await stop_live(live)


async def test_an_operators_order_that_filled_while_we_were_down_stays_theirs(
    tmp_path: Path,
) -> None:
    """Found at one start, filled before the next: the next start does not journal its fill
    as the bot's; the shares are held for the operator."""
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = 100.0
        alpaca.delay_fills = True
        await place_by_hand(alpaca, "by-hand-1", 10)
        first = await service_on(alpaca, tmp_path)
        await recover(first.broker_facing())
        first.journal.close()
        alpaca.fill_pending()
        service = await service_on(alpaca, tmp_path)
        await recover(service.broker_facing())
        await service.journal.aflush()
        assert service.journal.query("select * from fills") == []
        assert service.book.position("SPY") is None and service.book.is_foreign("SPY")
        assert service.book.equity() == pytest.approx(100_000.0)
        service.journal.close()
