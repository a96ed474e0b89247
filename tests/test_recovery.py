"""Start-up recovery through the REAL alpaca-py client against the loopback Alpaca: the loss
budget, the drawdown peak, positions the journal never saw, fills made while we were away."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.account import control_parts, watched_parts
from ops.config.settings import load_settings
from ops.control.commands import CommandCore
from ops.control.confirm import Confirmations
from ops.journal.journal import Journal
from ops.service.recovery import recover
from ops.service.service import TradingService
from ops.shared.results import Level
from ops.watch.monitor import Monitor
from strategy.clock import ManualClock
from strategy.market_day import trading_date
from strategy.types import Bar, Intent, OrderRequest, OrderType, Side, TimeInForce, TradingState
from strategy.venues.alpaca.broker import AlpacaBroker
from strategy.venues.sim_feed import SimFeed
from tests.fakes.alpaca import AlpacaFake
from tests.support import START, write_config


@pytest.fixture
async def alpaca() -> AsyncIterator[AlpacaFake]:
    async with AlpacaFake() as fake:
        yield fake


async def service_on(
    alpaca: AlpacaFake, tmp_path: Path, requests_per_min: float = 60_000, **config: object
) -> TradingService:
    """A service on the Alpaca fake (REST only: recovery needs no stream), clock at START."""
    path = write_config(tmp_path, **{"strategy.symbols": ["SPY", "QQQ"], **config})
    journal = Journal(tmp_path / "journal.db")
    journal.start()
    broker = AlpacaBroker.connect(
        "PKTEST", "secret-test", True, alpaca.trading_url, "", requests_per_min, 0.0, 0.5
    )
    account = await broker.account()
    return TradingService(
        settings=load_settings(path),
        journal=journal,
        broker=broker,
        feed=SimFeed([], ManualClock(start=START)),
        clock=ManualClock(start=START),
        starting_cash=account.cash,
    )


def journal_fill(journal: Journal, symbol: str, side: str, qty: int, price: float) -> None:
    journal.record(
        "fills",
        {
            "client_order_id": f"tb-{symbol}-1-e",
            "symbol": symbol,
            "side": side,
            "qty": qty,
            "price": price,
            "commission": 0.0,
            "slippage_bps": 0.0,
            "decision_price": price,
        },
    )


async def test_a_restart_keeps_the_days_loss_budget(alpaca: AlpacaFake, tmp_path: Path) -> None:
    """The day's starting equity journaled before the restart still counts: a restart after a
    4% loss does not reset the budget, and the monitor moves trading to REDUCING."""
    first = await service_on(alpaca, tmp_path)
    first.journal.record("day_start", {"day": trading_date(START), "equity": 104_000.0})
    first.journal.close()
    service = await service_on(alpaca, tmp_path)
    report = await recover(service.broker_facing())
    assert service.book.day_start_equity() == pytest.approx(104_000.0)
    assert "journaled earlier" in "\n".join(report.lines())
    await Monitor(watched_parts(service)).run()
    assert service.gate.state is TradingState.REDUCING
    service.journal.close()


async def test_restarting_while_short_is_not_a_drawdown(alpaca: AlpacaFake, tmp_path: Path) -> None:
    """A $40k short on $100k: the broker's cash holds the proceeds ($140k), but equity is
    cash + signed market value and the peak comes from the journal, so drawdown is ~0."""
    alpaca.prices["SPY"] = 100.0
    alpaca.positions["SPY"] = (-400, 100.0)
    alpaca.cash = 140_000.0
    first = await service_on(alpaca, tmp_path)
    journal_fill(first.journal, "SPY", "sell", 400, 100.0)
    first.journal.record("equity", {"equity": 100_000.0, "cash": 140_000.0, "drawdown": 0.0})
    first.journal.close()
    service = await service_on(alpaca, tmp_path)
    await recover(service.broker_facing())
    assert service.book.equity() == pytest.approx(100_000.0)
    assert service.book.drawdown() == pytest.approx(0.0)
    results = {r.key: r for r in await Monitor(watched_parts(service)).run()}
    assert results["drawdown"].level is Level.OK
    assert service.gate.state is TradingState.ACTIVE
    service.journal.close()


async def test_a_position_the_journal_never_saw_is_held_for_the_operator(
    alpaca: AlpacaFake, tmp_path: Path
) -> None:
    """At start-up a broker position with no journaled fills is not the bot's: an incident with
    the adopt command, counted in exposure, left out of equity, and never traded by the
    strategy (a bar that would exit it sends nothing)."""
    alpaca.prices["SPY"] = 100.0
    alpaca.positions["SPY"] = (10, 100.0)
    alpaca.cash = 99_000.0
    service = await service_on(alpaca, tmp_path)
    report = await recover(service.broker_facing())
    book = service.book
    assert report.differences and "NOT the bot's" in "\n".join(report.lines())
    assert "/trade adopt SPY" in service.open_alerts["reconcile:SPY"]
    assert book.is_foreign("SPY") and book.position("SPY") is None
    assert book.gross_exposure() == pytest.approx(1_000.0)
    assert book.equity() == pytest.approx(100_000.0)  # the foreign shares' cost given back
    service.engine.on_bar(Bar("SPY", START, 100.0, 100.0, 100.0, 100.0, 1000))
    assert book.working_orders() == []
    service.adopt_position("SPY", 10, 100.0, "U1")
    assert book.position_qty("SPY") == 10 and not book.is_foreign("SPY")
    assert book.equity() == pytest.approx(alpaca.equity())
    service.journal.close()


async def test_a_journaled_position_is_the_bots_again(alpaca: AlpacaFake, tmp_path: Path) -> None:
    """A broker position the journal's fills account for is restored as the bot's, no incident."""
    alpaca.prices["SPY"] = 100.0
    alpaca.positions["SPY"] = (10, 100.0)
    alpaca.cash = 99_000.0
    first = await service_on(alpaca, tmp_path)
    journal_fill(first.journal, "SPY", "buy", 10, 100.0)
    first.journal.close()
    service = await service_on(alpaca, tmp_path)
    report = await recover(service.broker_facing())
    assert not report.differences
    assert service.book.position_qty("SPY") == 10 and not service.book.is_foreign("SPY")
    assert service.book.equity() == pytest.approx(alpaca.equity())
    service.journal.close()


async def test_fills_made_while_away_are_journaled_as_fills(
    alpaca: AlpacaFake, tmp_path: Path
) -> None:
    """An order sent before a crash filled while the service was down: recovery writes its
    fills row (P&L, slippage, commission) and the position is the bot's, not foreign."""
    alpaca.prices["SPY"] = 100.0
    alpaca.delay_fills = True
    first = await service_on(alpaca, tmp_path, **{"broker.commission_per_share": 0.01})
    request = OrderRequest(
        "tb-SPY-1-e",
        "SPY",
        Side.BUY,
        10,
        OrderType.MARKET,
        TimeInForce.DAY,
        None,
        99.9,
        Intent.ENTRY,
        START,
    )
    first.book.add_order(request, None)
    await first.broker.submit(request)
    first.journal.close()
    alpaca.fill_pending()  # while nobody is listening
    service = await service_on(alpaca, tmp_path, **{"broker.commission_per_share": 0.01})
    report = await recover(service.broker_facing())
    await service.journal.aflush()
    (fill,) = service.journal.query("select symbol, side, qty, price, commission from fills")
    assert fill == {"symbol": "SPY", "side": "buy", "qty": 10, "price": 100.0, "commission": 0.1}
    assert not report.foreign and service.book.position_qty("SPY") == 10
    service.journal.close()


async def test_an_open_order_the_journal_never_sent_is_an_incident_with_a_choice(
    alpaca: AlpacaFake, tmp_path: Path
) -> None:
    """Recovery reads the broker's open orders: one the journal never sent (placed just before a
    crash, or by hand) is tracked, blocks its symbol while it works, and opens an incident that
    offers `cancel-order`; the command cancels it at the broker."""
    alpaca.prices["SPY"] = 100.0
    alpaca.delay_fills = True
    (tmp_path / "elsewhere").mkdir()
    placer = await service_on(alpaca, tmp_path / "elsewhere")  # another journal
    request = OrderRequest(
        "by-hand-1",
        "SPY",
        Side.BUY,
        5,
        OrderType.MARKET,
        TimeInForce.DAY,
        None,
        100.0,
        Intent.ENTRY,
        START,
    )
    await placer.broker.submit(request)
    placer.journal.close()
    service = await service_on(alpaca, tmp_path)
    report = await recover(service.broker_facing())
    assert report.foreign_orders and "by-hand-1" in report.foreign_orders[0]
    assert "/trade cancel-order by-hand-1" in service.open_alerts["order-foreign:SPY"]
    assert service.book.has_working_order("SPY")
    core = CommandCore(control_parts(service), Confirmations(lambda: 0.0, False), lambda: 0.0)
    done = await core.handle("cancel-order by-hand-1", "U1", "C1", "test")
    assert "cancel of by-hand-1" in str(done)
    (order,) = [o for o in alpaca.orders.values() if o["client_order_id"] == "by-hand-1"]
    assert order["status"] == "canceled"
    assert "order-foreign:SPY" not in service.open_alerts
    service.journal.close()


async def test_a_transient_failure_during_recovery_is_retried_and_said(
    alpaca: AlpacaFake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One 503 while reading positions at start-up: the read is retried (and logged), recovery
    completes instead of the start failing."""
    alpaca.prices["SPY"] = 100.0
    alpaca.positions["SPY"] = (10, 100.0)
    service = await service_on(alpaca, tmp_path, **{"broker.startup_retry_sec": 0.01})
    alpaca.fail_next("GET", "/v2/positions", 503)
    report = await recover(service.broker_facing())
    assert report.foreign and alpaca.requests.count(("GET", "/v2/positions")) == 2
    assert any("Alpaca positions unreachable" in r.getMessage() for r in caplog.records)
    service.journal.close()


async def test_after_a_crash_recovery_says_what_the_journal_may_lack(
    alpaca: AlpacaFake, tmp_path: Path
) -> None:
    """A run with no `stop` row crashed: the recovery notice names it and the newest journal
    row; after a clean stop it says nothing of the kind."""
    crashed = await service_on(alpaca, tmp_path)
    crashed.journal.record("runs", {"event": "start", "detail": ""})
    crashed.journal.close()
    service = await service_on(alpaca, tmp_path)
    report = await recover(service.broker_facing())
    assert report.differences and "did not stop cleanly" in "\n".join(report.lines())
    service.journal.record("runs", {"event": "stop", "detail": ""})
    service.journal.close()
    again = await service_on(alpaca, tmp_path)
    assert not (await recover(again.broker_facing())).crash
    again.journal.close()
