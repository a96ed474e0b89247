"""Books that balance: a fill read over REST carries its commission, Alpaca's fees enter the
book, each reconcile compares cash (the `cash` incident), and `/trade positions` shows cash."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.account import watched_parts
from bot.render_text import render
from ops.shared.results import PositionsResult
from ops.watch.monitor import Monitor
from strategy.book import Book
from strategy.clock import ManualClock
from strategy.recorder import MemoryRecorder
from strategy.types import Intent, OrderRequest, OrderType, Side, TimeInForce
from strategy.venues.alpaca.broker import AlpacaBroker
from tests.fakes.alpaca import AlpacaFake
from tests.support import START, bar, make_harness
from tests.test_alpaca import Live, start_live, stop_live

COMMISSION = 0.01


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    rig = await start_live(tmp_path)
    yield rig
    await stop_live(rig)


def connect(alpaca: AlpacaFake) -> AlpacaBroker:
    return AlpacaBroker.connect(
        "PKTEST", "secret-test", True, alpaca.trading_url, alpaca.trading_stream_url,
        requests_per_min=60_000, commission_per_share=COMMISSION,
    )  # fmt: skip


def market_buy(coid: str, qty: int, price: float) -> OrderRequest:
    return OrderRequest(
        coid, "SPY", Side.BUY, qty, OrderType.MARKET, TimeInForce.DAY, None, price, Intent.ENTRY, 0
    )


async def test_a_fill_read_over_rest_carries_its_commission() -> None:
    """The submit reply shows the order filled and its stream event is lost: the fill the
    book takes from the reply pays commission_per_share like a stream fill."""
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = 100.0
        alpaca.mute_trade_updates = True
        broker = connect(alpaca)
        recorder = MemoryRecorder()
        book = Book(100_000.0, ManualClock(start=START), recorder)
        order = market_buy("tb-SPY-1-e", 30, 100.0)
        book.add_order(order, None)
        book.apply(await broker.submit(order))
    assert book.position_qty("SPY") == 30
    assert [(f["qty"], f["commission"]) for f in recorder.of("fills")] == [(30, 30 * COMMISSION)]
    assert book.cash == pytest.approx(100_000.0 - 30 * 100.0 - 30 * COMMISSION)


async def test_an_alpaca_fee_moves_book_cash_once(live: Live) -> None:
    """A FEE activity posted after start-up is booked at the next reconcile (journaled as a
    charge), exactly once; book and broker cash then agree, with no cash incident."""
    queries = Monitor(watched_parts(live.service))
    assert (await queries.reconcile()).level.value == "ok"
    before = live.service.book.cash
    ref = live.alpaca.charge_fee(0.37)
    await queries.reconcile()
    await queries.reconcile()
    assert live.service.book.cash == pytest.approx(before - 0.37)
    assert live.service.book.cash == pytest.approx(live.alpaca.cash)
    live.journal.flush()
    charges = live.journal.query("select amount, reason, ref from charges")
    assert charges == [{"amount": 0.37, "reason": "FEE REG/TAF fee", "ref": ref}]
    assert "cash" not in live.service.open_alerts


async def test_a_dividend_moves_book_cash_once(live: Live) -> None:
    """A cash dividend Alpaca credits is booked at the next reconcile (journaled as a charge
    of minus its amount), exactly once: book and broker cash agree, with no cash incident."""
    queries = Monitor(watched_parts(live.service))
    assert (await queries.reconcile()).level.value == "ok"
    before = live.service.book.cash
    ref = live.alpaca.pay_dividend("SPY", 12.5)
    await queries.reconcile()
    await queries.reconcile()
    assert live.service.book.cash == pytest.approx(before + 12.5)
    assert live.service.book.cash == pytest.approx(live.alpaca.cash)
    live.journal.flush()
    charges = live.journal.query("select amount, reason, ref from charges")
    assert charges == [{"amount": -12.5, "reason": "DIV Cash DIV SPY", "ref": ref}]
    assert "cash" not in live.service.open_alerts


async def test_a_fee_posted_before_start_up_is_not_booked_again() -> None:
    """The starting cash already paid the fees posted before start-up: only later ones are new."""
    async with AlpacaFake() as alpaca:
        alpaca.charge_fee(1.0)
        broker = connect(alpaca)
        await broker.start()
        try:
            assert await broker.new_charges() == []
            later = alpaca.charge_fee(0.25)
            assert [(c.ref, c.amount) for c in await broker.new_charges()] == [(later, 0.25)]
            assert await broker.new_charges() == []
        finally:
            await broker.stop()


async def test_a_cash_mismatch_opens_the_cash_incident_and_agreeing_resolves_it(
    live: Live,
) -> None:
    """Cash leaving the account behind the book's back (beyond monitoring.cash_tolerance) is
    the `cash` incident; once book and broker agree again it is resolved."""
    monitor = Monitor(watched_parts(live.service))
    live.alpaca.cash -= 250.0
    await monitor.reconcile()
    assert "-$250.00 unexplained" in live.service.open_alerts["cash"]
    live.alpaca.cash += 250.0 - 0.5  # within the $1 tolerance
    await monitor.reconcile()
    assert "cash" not in live.service.open_alerts


async def test_shares_held_for_the_operator_are_no_cash_mismatch(tmp_path: Path) -> None:
    """Shares bought at the broker behind the book's back are paid from the broker's cash,
    not the book's: that difference is expected, and positions say so."""
    h = make_harness(tmp_path)
    await h.push(bar("SPY", 0, 100.0))
    await h.buy_behind_the_books_back("SPY", 7, 100.0)
    await h.push(bar("SPY", 1, 100.0))
    await Monitor(watched_parts(h.service)).reconcile()
    assert "reconcile:SPY" in h.service.open_alerts and "cash" not in h.service.open_alerts
    text = render(await h.run("positions"))
    assert "cash: book $100,000.00, broker $99,299." in text
    assert "for the shares held for you)  match" in text


async def test_positions_show_cash_beside_positions(tmp_path: Path) -> None:
    """`/trade positions` carries book and broker cash and renders them under the table."""
    h = make_harness(tmp_path)
    result = await h.run("positions")
    assert isinstance(result, PositionsResult) and result.cash is not None
    assert (result.cash.book, result.cash.broker, result.cash.matches) == (
        100_000.0,
        100_000.0,
        True,
    )
    assert "cash: book $100,000.00, broker $100,000.00  match" in render(result)
