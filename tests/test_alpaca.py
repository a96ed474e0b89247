"""The Alpaca venue through the REAL alpaca-py clients against the loopback Alpaca."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.account import control_parts, watched_parts
from bot.render_text import render_kill
from ops.config.settings import load_settings
from ops.control.queries import Queries
from ops.journal.journal import Journal
from ops.service.recovery import recover
from ops.service.service import TradingService
from ops.watch.monitor import Monitor
from strategy.clock import SystemClock
from strategy.types import OrderStatus, TradingState
from strategy.venues.alpaca.broker import AlpacaBroker
from strategy.venues.alpaca.feed import AlpacaFeed
from tests.fakes.alpaca import AlpacaFake
from tests.support import eventually, write_config
from tests.test_engine import CALM

SYMBOLS = ("SPY", "QQQ")


@dataclass
class Live:
    alpaca: AlpacaFake
    broker: AlpacaBroker
    feed: AlpacaFeed
    service: TradingService
    journal: Journal
    base: float  # ts of bar 0; bar 20 is the last complete minute

    async def bars(self, symbol: str, closes: list[float], first: int = 0, **kw: object) -> None:
        for i, close in enumerate(closes, start=first):
            await self.alpaca.push_bar(symbol, self.base + 60 * i, close, **kw)  # type: ignore[arg-type]

    async def drop_to_entry(self, symbol: str = "SPY", quote: float | None = 97.85) -> None:
        """Twenty calm bars, then a sharp drop: the engine buys at a 97.90 limit."""
        await self.bars(symbol, CALM)
        await self.alpaca.push_bar(symbol, self.base + 60 * 20, 98.0, quote=quote)


def minute_base(bars_back: int) -> float:
    return (time.time() // 60) * 60 - 60 * bars_back


async def start_live(
    tmp_path: Path,
    bars_back: int = 21,
    config_values: Mapping[str, object] | None = None,
    backfill_timeout_sec: float = 10.0,
    **broker_kw: object,
) -> Live:
    alpaca = AlpacaFake()
    await alpaca.__aenter__()
    config = write_config(
        tmp_path,
        **{
            "strategy.symbols": list(SYMBOLS),
            "kill.poll_sec": 0.05,
            "kill.timeout_sec": 10,
            **(config_values or {}),
        },
    )
    journal = Journal(tmp_path / "journal.db")
    journal.start()
    settings = load_settings(config)
    clock = SystemClock()
    broker = AlpacaBroker.connect(
        "PKTEST",
        "secret-test",
        True,
        alpaca.trading_url,
        alpaca.trading_stream_url,
        requests_per_min=60_000,
        commission_per_share=0.0,
        **{  # type: ignore[arg-type]
            "timeout_sec": 0.5,
            "rate_limit_pause_sec": 0.05,
            "reread_backoff_sec": 0.02,
            **broker_kw,
        },
    )
    feed = AlpacaFeed.connect(
        "PKTEST",
        "secret-test",
        SYMBOLS,
        clock,
        "iex",
        alpaca.data_stream_url,
        alpaca.data_url,
        in_session=lambda prev_ts, ts: True,  # test bars follow the wall clock, day or night
        timeout_sec=backfill_timeout_sec,
    )
    account = await broker.account()
    service = TradingService(
        settings=settings,
        journal=journal,
        broker=broker,
        feed=feed,
        clock=clock,
        starting_cash=account.cash,
    )
    await broker.start()
    await service.start()
    await eventually(lambda: alpaca._subscribed == set(SYMBOLS) and alpaca._trading_ws)
    return Live(alpaca, broker, feed, service, journal, minute_base(bars_back))


async def stop_live(live: Live) -> None:
    await live.service.stop()
    await live.feed.stop()
    await live.broker.stop()
    await live.alpaca.__aexit__()


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    rig = await start_live(tmp_path)
    yield rig
    await stop_live(rig)


async def test_bars_in_orders_out_fills_back_positions_match(live: Live) -> None:
    """A stream bar triggers a limit IOC; its fill arrives on trade_updates; book = broker."""
    await live.drop_to_entry()
    await eventually(lambda: live.service.book.position("SPY") is not None)
    position = live.service.book.position("SPY")
    assert position is not None and position.avg_price == 97.85
    (order,) = live.alpaca.orders.values()
    assert (order["type"], order["time_in_force"], order["limit_price"]) == ("limit", "ioc", 97.9)
    assert live.alpaca.positions["SPY"][0] == position.qty
    assert live.service.engine.counters.bars == 21


async def test_a_data_stream_drop_is_reconnected_and_the_gap_backfilled(tmp_path: Path) -> None:
    """Bars published while the socket was down arrive (via REST, paged) before live ones."""
    live = await start_live(tmp_path, bars_back=40)
    try:
        live.alpaca.bars_page_size = 3
        await live.bars("SPY", [100.0] * 10)
        await eventually(lambda: live.service.engine.counters.bars == 10)
        await live.alpaca.drop_data_connections()
        await live.bars("SPY", [100.0 + i / 100 for i in range(10)], first=10, live=False)
        await eventually(lambda: live.feed.connections == 2, within=15)
        await eventually(lambda: live.feed.backfilled == 10)
        await live.bars("SPY", [100.2], first=20)
        await eventually(lambda: live.service.engine.counters.bars == 21)
        assert live.feed.backfilled == 10
        stats = live.service.engine.stats("SPY")
        assert stats is not None and stats.last_close == 100.2
        assert ("GET", "/v2/stocks/bars") in live.alpaca.requests
        assert live.alpaca.requests.count(("GET", "/v2/stocks/bars")) >= 4  # 10 bars, pages of 3
    finally:
        await stop_live(live)


async def test_a_trading_stream_drop_misses_no_fill(live: Live) -> None:
    """A fill that happened while trade_updates was down is recovered by re-reading orders."""
    live.alpaca.delay_fills = True
    await live.drop_to_entry()
    await eventually(lambda: live.alpaca.orders)  # placed, not just decided
    live.alpaca.mute_trade_updates = True
    live.alpaca.fill_pending()
    live.alpaca.mute_trade_updates = False
    await live.alpaca.drop_trading_connections()
    await eventually(lambda: live.service.book.position("SPY") is not None, within=15)
    assert live.broker.reconnects >= 2


async def test_a_submit_timeout_never_sends_the_order_twice(live: Live) -> None:
    """The response is late (client timeout): the order is found by client_order_id."""
    live.alpaca.slow_next_order(2.0)
    await live.drop_to_entry()
    await eventually(lambda: live.service.book.position("SPY") is not None, within=10)
    (order,) = live.alpaca.orders.values()
    assert len(live.alpaca.orders_for(order["client_order_id"])) == 1
    assert live.service.engine.counters.broker_rejects == 0


async def test_429_and_5xx_are_refusals_not_duplicates(live: Live) -> None:
    """A 429 on submit: the order was not placed, so it is refused (journaled), not retried;
    a 5xx on positions: the positions view says the broker is unavailable."""
    live.alpaca.fail_next("POST", "/v2/orders", 429, 42910000)
    await live.drop_to_entry()
    await eventually(lambda: live.service.engine.counters.broker_rejects == 1)
    assert live.alpaca.orders == {}
    live.journal.flush()
    (refusal,) = live.journal.query("select rule, reason from refusals")
    assert refusal["rule"] == "broker" and "429" in str(refusal["reason"])
    live.alpaca.fail_next("GET", "/v2/positions", 503)
    view = await Queries(control_parts(live.service)).positions(reconcile=False)
    assert view.broker_error is not None and "503" in view.broker_error


async def test_a_rejected_order_is_journaled_with_the_brokers_reason(live: Live) -> None:
    """403 insufficient buying power: REJECTED in the book, refusal journaled."""
    live.alpaca.cash = 10.0
    await live.drop_to_entry()
    await eventually(lambda: live.service.engine.counters.broker_rejects == 1)
    live.journal.flush()
    (refusal,) = live.journal.query("select reason from refusals")
    assert "insufficient buying power" in str(refusal["reason"])
    statuses = live.journal.query("select status from order_updates")
    assert statuses[-1]["status"] == OrderStatus.REJECTED.value


async def test_a_partial_fill_leaves_the_partial_position(live: Live) -> None:
    """An IOC filled 1 share of N: the book holds 1 share and the rest is canceled."""
    live.alpaca.partial_next(1)
    await live.drop_to_entry()
    await eventually(
        lambda: (
            not live.service.book.working_orders() and live.service.book.position("SPY") is not None
        )
    )
    position = live.service.book.position("SPY")
    assert position is not None and position.qty == 1
    assert live.alpaca.positions["SPY"][0] == 1


async def test_kill_goes_flat_even_when_a_close_is_refused_once(live: Live) -> None:
    """Two positions; one close-all request; SPY's close is refused, so the kill re-closes
    SPY alone and ends flat, with each exit's fill in the report and the book flat too."""
    await live.drop_to_entry("SPY")
    await live.drop_to_entry("QQQ")
    await eventually(lambda: len(live.service.book.positions()) == 2)
    live.alpaca.refuse_close("SPY")
    report = await live.service.kill("U1")
    assert report.flat, report
    assert live.alpaca.positions == {}
    assert live.service.book.positions() == []
    assert live.alpaca.requests.count(("DELETE", "/v2/positions")) == 1
    exits = {e.symbol: e for e in report.exits}
    assert set(exits) == {"SPY", "QQQ"}
    assert all(e.filled_qty == e.qty_before and e.avg_price is not None for e in exits.values())
    assert any("SPY" in e and "close refused" in e for e in report.errors)
    assert live.service.gate.state is TradingState.HALTED


async def test_restart_with_an_order_in_flight_rebuilds_the_book(tmp_path: Path) -> None:
    """An order sent before a crash fills while we are down: the next start finds it and
    adopts the broker's position."""
    first = await start_live(tmp_path)
    first.alpaca.delay_fills = True
    await first.drop_to_entry()
    await eventually(lambda: first.alpaca.orders)  # placed, not just decided
    alpaca = first.alpaca
    await first.service.stop()
    await first.feed.stop()
    await first.broker.stop()
    alpaca.fill_pending()  # while nobody is listening
    journal = Journal(tmp_path / "journal.db")
    journal.start()
    broker = AlpacaBroker.connect(
        "PKTEST",
        "secret-test",
        True,
        alpaca.trading_url,
        alpaca.trading_stream_url,
        60_000,
        0.0,
        0.5,
    )
    account = await broker.account()
    service = TradingService(
        settings=load_settings(tmp_path / "config.yaml"),
        journal=journal,
        broker=broker,
        feed=first.feed,
        clock=SystemClock(),
        starting_cash=account.cash,
    )
    report = await recover(service.broker_facing())
    assert len(report.finished_while_away) == 1 and "filled" in report.finished_while_away[0]
    position = service.book.position("SPY")
    assert position is not None and position.qty == alpaca.positions["SPY"][0]
    assert service.book.equity() == pytest.approx(alpaca.equity())
    journal.close()
    await alpaca.__aexit__()


async def test_a_broker_position_the_bot_does_not_know_is_a_mismatch(live: Live) -> None:
    """reconcile reports the unknown position and opens an incident for it."""
    live.alpaca.prices["AAPL"] = 150.0
    live.alpaca.positions["AAPL"] = (10, 150.0)
    result = await Queries(control_parts(live.service)).positions(reconcile=True)
    (row,) = result.mismatches
    assert (row.symbol, row.book_qty, row.broker_qty) == ("AAPL", 0, 10)
    assert "reconcile:AAPL" in live.service.open_alerts


async def test_sub_penny_limits_are_rounded_before_sending(live: Live) -> None:
    """A limit computed as 97.9020 is sent as 97.90 (Alpaca rejects sub-penny prices)."""
    await live.drop_to_entry(quote=None)
    await eventually(lambda: live.alpaca.orders)
    (order,) = live.alpaca.orders.values()
    assert order["limit_price"] == 97.9


async def test_an_account_alpaca_blocks_from_trading_is_a_broker_incident(live: Live) -> None:
    """Alpaca blocks trading on the account (its trading_blocked flag): the broker check
    fails naming the flag, so the dead-man pauses entries, before any exit is refused."""
    monitor = Monitor(watched_parts(live.service))
    await monitor.run()
    assert "broker" not in live.service.open_alerts
    live.alpaca.account_flags["trading_blocked"] = True
    await monitor.run()
    assert "trading_blocked" in live.service.open_alerts["broker"]
    assert "exits included" in live.service.open_alerts["broker"]
    assert live.service.gate.state is TradingState.PAUSED
    live.alpaca.account_flags["trading_blocked"] = False
    await monitor.run()
    assert "broker" not in live.service.open_alerts


async def hold_spy_after_hours(live: Live) -> None:
    """A SPY position, then the market closes: Alpaca holds market orders for the open."""
    await live.drop_to_entry()
    await eventually(lambda: live.service.book.position("SPY") is not None)
    live.alpaca.market_open = False
    live.alpaca.delay_fills = True


async def test_a_kill_while_the_market_is_closed_says_the_closes_wait_for_the_open(
    tmp_path: Path,
) -> None:
    """After hours Alpaca holds the close-all's market orders until the open: the kill ends
    NOT FLAT, and its report and incident say the market is closed until the next open."""
    live = await start_live(tmp_path, config_values={"kill.timeout_sec": 1})
    try:
        await hold_spy_after_hours(live)
        report = await live.service.kill("U1")
        assert not report.flat
        assert report.closed_until is not None and report.closed_until > time.time()
        assert "the market is closed until" in render_kill(report)
        assert "the market is closed until" in live.service.open_alerts["kill"]
    finally:
        await stop_live(live)


async def test_after_hours_the_kill_leaves_the_held_closes_alone_until_the_open(
    tmp_path: Path,
) -> None:
    """After an after-hours kill the retries wait for the open instead of cancelling and
    sending the held closes again all night (and polling at the rate limit meanwhile); at the
    open the closes fill and the kill ends FLAT."""
    live = await start_live(tmp_path, config_values={"kill.timeout_sec": 1})
    try:
        await hold_spy_after_hours(live)
        live.alpaca.opens_at = time.time() + 4.0  # after the kill's own 1 s, even on a slow host
        live.service.kill_switch.retry_sec = 0.02
        assert not (await live.service.kill("U1")).flat
        await eventually(lambda: "kill" not in live.service.open_alerts, within=15)
        assert live.alpaca.requests.count(("DELETE", "/v2/positions")) == 1
        assert live.service.book.position("SPY") is None
    finally:
        await stop_live(live)


async def test_a_clock_off_the_brokers_is_an_incident_until_they_agree(live: Live) -> None:
    """This machine's clock 2 minutes ahead of Alpaca's: bars look older than they are, and
    past risk.stale_bar_sec every entry would be refused as stale without a word. The
    market-clock job says so (`clock-skew`) and resolves it once the clocks agree."""
    monitor = Monitor(watched_parts(live.service))
    await monitor.market_clock()
    assert "clock-skew" not in live.service.open_alerts
    live.alpaca.clock_offset_sec = -120.0
    await monitor.market_clock()
    message = live.service.open_alerts["clock-skew"]
    assert "+120s off the broker's" in message and "stale" in message
    live.alpaca.clock_offset_sec = 0.0
    await monitor.market_clock()
    assert "clock-skew" not in live.service.open_alerts


async def test_a_market_clock_the_kill_cannot_read_is_in_its_report(tmp_path: Path) -> None:
    """Not flat, and the market clock unreadable: the kill's report says so among its errors."""
    live = await start_live(tmp_path, config_values={"kill.timeout_sec": 1})
    try:
        await hold_spy_after_hours(live)
        live.alpaca.fail_next("GET", "/v2/clock", 503, times=10)
        report = await live.service.kill("U1")
        assert not report.flat and report.closed_until is None
        assert any("reading the market clock failed" in e for e in report.errors)
    finally:
        await stop_live(live)
