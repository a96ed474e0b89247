"""Adopting an operator's shares at the market price (issue 22, case 7): their gain or loss
until then stays the operator's, so the day's loss budget and the drawdown measure only what
happens afterwards, and cash still reconciles with the broker's, across a restart too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.account import control_parts, watched_parts
from ops.control.commands import CommandCore
from ops.control.confirm import Confirmations
from ops.journal.pnl import period_figures
from ops.service.recovery import recover
from ops.service.service import TradingService
from ops.shared.results import ConfirmRequest, Done
from ops.watch.monitor import Monitor
from strategy.book import Book
from strategy.clock import ManualClock
from strategy.recorder import MemoryRecorder
from strategy.types import TradingState
from tests.fakes.alpaca import AlpacaFake
from tests.support import START, bar, make_harness
from tests.test_kill_switch import enter
from tests.test_recovery import service_on


@pytest.fixture
async def alpaca() -> AsyncIterator[AlpacaFake]:
    async with AlpacaFake() as fake:
        yield fake


def test_the_book_buys_adopted_shares_at_the_market_price() -> None:
    """1,000 shares the operator bought at $100, adopted at $95: equity does not move, the
    position's cost is $95 and the -$5,000 is the operator's (journaled)."""
    recorder = MemoryRecorder()
    book = Book(0.0, ManualClock(start=START), recorder)
    book.hold_foreign("SPY", 1000, 100.0, paid=True)  # start-up: the broker's cash paid them
    book.mark("SPY", 95.0, START)
    assert book.equity() == pytest.approx(100_000.0)
    made = book.adopt("SPY", 1000, 100.0, 95.0)
    position = book.position("SPY")
    assert position is not None and (position.qty, position.avg_price) == (1000, 95.0)
    assert book.equity() == pytest.approx(100_000.0) and book.cash == pytest.approx(5_000.0)
    assert made == pytest.approx(-5_000.0) and book.operator_pnl == pytest.approx(-5_000.0)
    assert [r["amount"] for r in recorder.of("operator_pnl")] == [pytest.approx(-5_000.0)]
    assert not book.is_foreign("SPY")


def test_adopting_more_of_a_held_symbol_pays_only_for_the_operators_shares() -> None:
    """The book holds 10 at $90 (cost $900 at the broker too); the operator adds 5 at $100
    (broker: 15 at $93.33). Adopted at $96: the book pays 5 x $96, and the operator's gain is
    5 x ($96 - $100), whatever the broker's blended average."""
    book = Book(10_000.0, ManualClock(start=START), MemoryRecorder())
    book.restore_position("SPY", 10, 90.0)
    made = book.adopt("SPY", 15, 1400.0 / 15, 96.0)
    assert made == pytest.approx(-20.0)
    assert book.cash == pytest.approx(10_000.0 - 5 * 96.0)
    position = book.position("SPY")
    assert position is not None and position.qty == 15
    assert position.avg_price == pytest.approx((10 * 90.0 + 5 * 96.0) / 15)


async def adopt_by_command(service: TradingService, symbol: str) -> tuple[ConfirmRequest, Done]:
    core = CommandCore(control_parts(service), Confirmations(lambda: 0.0, False), lambda: 0.0)
    request = await core.handle(f"adopt {symbol}", "U1", "C1", "test")
    assert isinstance(request, ConfirmRequest)
    done = await core.confirm(request.nonce, "U1", "C1", "test")
    assert isinstance(done, Done)
    return request, done


async def test_adopting_old_losses_is_not_a_loss_today(alpaca: AlpacaFake, tmp_path: Path) -> None:
    """The operator's 1,000 SPY bought at $100, now $95, adopted with the command: book equity
    stays $100,000 (the broker's did not move today), so no day loss, no REDUCING, no
    drawdown; cash reconciles (the -$5,000 is the operator's) and the confirmation says what
    the book pays. After a restart the book carries on from the same equity."""
    alpaca.prices["SPY"] = 95.0
    alpaca.positions["SPY"] = (1000, 100.0)
    alpaca.cash = 0.0
    service = await service_on(alpaca, tmp_path)
    await recover(service.broker_facing())
    book = service.book
    book.snapshot_equity(START)  # the drawdown peak: $100,000
    assert book.equity() == pytest.approx(100_000.0)
    request, done = await adopt_by_command(service, "SPY")
    assert book.position_qty("SPY") == 1000
    assert book.equity() == pytest.approx(100_000.0)
    assert book.equity() - book.day_start_equity() == pytest.approx(0.0)
    assert book.drawdown() == pytest.approx(0.0)
    await Monitor(watched_parts(service)).run()
    assert service.gate.state is TradingState.ACTIVE
    await Monitor(watched_parts(service)).reconcile()
    assert "cash" not in service.open_alerts and "reconcile:SPY" not in service.open_alerts
    lines = "\n".join(request.lines)
    assert "at the market price when you confirm (now 95.00" in lines
    assert "-$5,000.00 against the broker's average 100.00" in lines
    assert "bought the +1000 it lacked at 95.00" in done.title and "-$5,000.00" in done.title
    await service.journal.aflush()
    assert period_figures(service.journal, "today", START).realized == 0.0
    service.journal.close()

    again = await service_on(alpaca, tmp_path)
    await recover(again.broker_facing())
    assert again.book.equity() == pytest.approx(100_000.0)
    assert again.book.drawdown() == pytest.approx(0.0)
    await Monitor(watched_parts(again)).run()
    assert again.gate.state is TradingState.ACTIVE
    await Monitor(watched_parts(again)).reconcile()
    assert "cash" not in again.open_alerts
    again.journal.close()


async def test_a_kill_adopts_the_operators_shares_beside_the_bots_and_cash_still_balances(
    tmp_path: Path,
) -> None:
    """The bot holds 4 SPY bought at $100; the operator buys 7 more at $110 (the broker's
    average blends them). The reconcile holds the 7 at what they cost, so cash balances; the
    kill adopts them at the market price before closing, and the book ends flat with cash
    still balanced and equity the broker's less the operator's own P&L."""
    h = make_harness(tmp_path, **{"kill.poll_sec": 0.01})
    await h.push(bar("SPY", 0, 100.0))
    await enter(h, "SPY", 4)
    await h.push(bar("SPY", 1, 100.0))
    await h.push(bar("SPY", 2, 110.0))
    await h.buy_behind_the_books_back("SPY", 7, 110.0)
    await h.push(bar("SPY", 3, 110.0))
    book = h.service.book
    assert book.position_qty("SPY") == 4 and (await h.broker.positions())[0].qty == 11
    await h.run("reconcile")
    assert book.is_foreign("SPY") and "cash" not in h.service.open_alerts
    kill = asyncio.create_task(h.service.kill("U1"))
    minute = 4
    while not kill.done():
        await h.push(bar("SPY", minute, 110.0))
        minute += 1
        await asyncio.sleep(0.01)
    assert kill.result().flat and book.positions() == [] and not book.foreign()
    account = await h.broker.account()
    assert book.equity() == pytest.approx(account.equity - book.operator_pnl)
    await h.run("reconcile")
    assert "cash" not in h.service.open_alerts
