"""The money path when something goes wrong: risk breaches, unknown orders, adoption, a HALT
while an entry waits to be sent (issue 11 cases 1, 3, 6 and 8; the restart cases are in
test_recovery.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.account import watched_parts
from ops.shared.results import ConfirmRequest
from ops.watch.monitor import Monitor
from strategy.market_day import trading_date
from strategy.types import Bar, Intent, OrderRequest, OrderStatus, OrderUpdate, TradingState
from strategy.venue import BrokerUnavailable, OrderRejected
from strategy.venues.sim import SimBroker
from tests.fakes.alpaca import AlpacaFake
from tests.support import START, Harness, bar, eventually, make_harness, settle
from tests.test_commands import open_spy_position
from tests.test_engine import CALM
from tests.test_monitor import RecordingSink
from tests.test_recovery import service_on


def state_rows(h: Harness) -> list[dict[str, object]]:
    h.journal.flush()
    return h.journal.query("select state, reason, user from state_changes order by id")


async def test_a_daily_loss_breach_reduces_says_so_and_still_exits(tmp_path: Path) -> None:
    """A day loss past the limit moves trading to REDUCING through the state's owner (journaled,
    an incident in Slack); entries are refused but the open position still exits."""
    h = make_harness(tmp_path)
    sink = RecordingSink()
    h.service.add_alert_sink(sink)
    await open_spy_position(h)
    day = trading_date(h.clock.now())
    h.service.book.restore_day(day, h.service.book.equity() * 1.05)  # 5% down on the day
    await Monitor(watched_parts(h.service)).run()

    assert h.service.gate.state is TradingState.REDUCING
    assert state_rows(h)[-1]["state"] == "REDUCING" and "daily loss" in str(
        state_rows(h)[-1]["reason"]
    )
    await h.service.state_on_disk()  # the state's incident is raised once it is on disk
    assert any(e[0] == "raise" and e[1] == "trading-state" for e in sink.events)
    await h.push(*(bar("QQQ", i, c) for i, c in enumerate([*CALM, 98.0])))  # an entry signal
    assert h.service.book.position("QQQ") is None
    assert all(o.request.symbol != "QQQ" for o in h.service.book.working_orders())
    await h.push(bar("SPY", 40, 100.0), bar("SPY", 41, 100.0))  # z reverts: the exit
    assert h.service.book.position("SPY") is None


async def test_the_breach_from_a_fill_goes_through_the_owner(tmp_path: Path) -> None:
    """The engine's own check after a fill reports the breach; the gate never writes the state,
    so the state_changes row names `risk` as the one who moved it."""
    h = make_harness(tmp_path)
    await open_spy_position(h)
    day = trading_date(h.clock.now())
    h.service.book.restore_day(day, h.service.book.equity() * 1.05)
    await h.push(bar("SPY", 22, 100.0), bar("SPY", 23, 100.0))  # the exit fills
    assert h.service.gate.state is TradingState.REDUCING
    assert state_rows(h)[-1]["user"] == "risk"


class RefusesExits(SimBroker):
    """The broker refuses the strategy's exits (403: the shares are held for another order)."""

    refusing = True

    async def submit(self, order: OrderRequest) -> OrderUpdate:
        if self.refusing and order.intent is Intent.EXIT:
            raise OrderRejected("Alpaca 403: insufficient qty available for order")
        return await super().submit(order)


async def test_an_exit_the_broker_refuses_is_an_incident_until_the_symbol_is_flat(
    tmp_path: Path,
) -> None:
    """The broker refuses an exit: a critical `exit-refused:SPY` incident gives its reason and
    says the position stays open; it resolves once a later exit leaves SPY flat."""
    h = make_harness(tmp_path)
    broker = h.swap_broker(RefusesExits)
    qty = await open_spy_position(h)
    await h.push(bar("SPY", 22, 100.0), bar("SPY", 23, 100.0))  # z reverts: the exit, refused
    await eventually(lambda: "exit-refused:SPY" in h.service.open_alerts)
    message = h.service.open_alerts["exit-refused:SPY"]
    assert f"exit of {qty} SPY" in message and "insufficient qty" in message
    assert "stays open" in message
    position = h.service.book.position("SPY")
    assert position is not None and position.qty == qty
    broker.refusing = False
    await h.push(bar("SPY", 40, 100.0), bar("SPY", 41, 100.0))  # the next exit signal
    await eventually(lambda: h.service.book.position("SPY") is None)
    assert "exit-refused:SPY" not in h.service.open_alerts


@pytest.mark.parametrize("held", [True, False])
async def test_an_exit_refused_incident_restored_at_start_up_closes_if_flat(
    tmp_path: Path, held: bool
) -> None:
    """An `exit-refused:SPY` incident open at the last stop is open again after a restart,
    unless SPY is flat by then (closed while the service was down): then it closes."""
    first = make_harness(tmp_path)
    first.service.alert("exit-refused:SPY", "critical", "the position stays open")
    first.journal.close()
    second = make_harness(tmp_path)
    if held:
        second.service.book.restore_position("SPY", 10, 100.0)
    await second.service.start()
    try:
        assert ("exit-refused:SPY" in second.service.open_alerts) is held
    finally:
        await second.service.stop()


async def test_an_order_unknown_incident_restored_at_start_up_closes(tmp_path: Path) -> None:
    """The lookup an `order-unknown:SPY` incident spoke of ended with its run; a new run has no
    order of unknown outcome (start-up recovery reads every unfinished one), so it closes."""
    first = make_harness(tmp_path)
    first.service.alert("order-unknown:SPY", "critical", "tb-SPY-1-e: still looking it up")
    first.journal.close()
    second = make_harness(tmp_path)
    await second.service.start()
    try:
        assert "order-unknown:SPY" not in second.service.open_alerts
    finally:
        await second.service.stop()


async def test_an_exit_not_sent_because_of_a_halt_is_no_incident(tmp_path: Path) -> None:
    """A HALT refuses exits on purpose (the kill flattens): no `exit-refused` incident."""
    h = make_harness(tmp_path)
    await open_spy_position(h)
    h.service.set_state(TradingState.HALTED, "kill by U1", "U1")
    await h.push(bar("SPY", 22, 100.0), bar("SPY", 23, 100.0))  # the exit signal
    h.service.journal.flush()
    assert h.service.journal.query("select rule from refusals") != []
    assert not any(key.startswith("exit-refused") for key in h.service.open_alerts)


class LookupsFail(SimBroker):
    """The submit times out after the order was placed, and the next lookups fail too."""

    failing_lookups = 3

    async def submit(self, order: OrderRequest) -> OrderUpdate:
        await super().submit(order)
        raise BrokerUnavailable("read timeout")

    async def get_order(self, client_order_id: str) -> OrderUpdate | None:
        if self.failing_lookups > 0:
            self.failing_lookups -= 1
            raise BrokerUnavailable("502 bad gateway")
        return await super().get_order(client_order_id)


async def test_an_order_of_unknown_outcome_is_looked_up_until_known_and_alerted(
    tmp_path: Path,
) -> None:
    """Submit and lookup both fail: the order is looked up again with backoff until the broker
    answers; meanwhile an order-unknown incident says the symbol is blocked, then resolves."""
    h = make_harness(
        tmp_path,
        **{"broker.lookup_retry_sec": 0.001, "monitoring.unknown_order_alert_sec": 0.0},
    )
    broker = h.swap_broker(LookupsFail)
    await h.push(*(bar("SPY", i, c) for i, c in enumerate([*CALM, 98.0])))
    await eventually(lambda: "order-unknown:SPY" in h.service.open_alerts)
    assert "exits included" in h.service.open_alerts["order-unknown:SPY"]
    await eventually(lambda: broker.failing_lookups == 0 and not h.service.engine.sending)
    (order,) = h.service.book.working_orders()
    assert order.status is OrderStatus.ACCEPTED  # known now: it was placed
    assert "order-unknown:SPY" not in h.service.open_alerts


async def test_adopting_a_position_moves_cash_so_equity_does_not_move(tmp_path: Path) -> None:
    """Adopting +7 bought behind the book's back pays for them at the market price: book equity
    stays where it was (the broker's, less what the operator's buy cost them) instead of
    rising by their market value; until then the symbol is not traded."""
    h = make_harness(tmp_path)
    await h.push(bar("SPY", 0, 100.0))
    await h.buy_behind_the_books_back("SPY", 7, 100.0)
    await h.push(bar("SPY", 1, 100.0))
    await h.run("reconcile")
    assert h.service.book.is_foreign("SPY")
    before = h.service.book.equity()
    request = await h.run("adopt SPY")
    assert isinstance(request, ConfirmRequest)
    await h.core.confirm(request.nonce, "U1", "C1", "test")
    account = await h.broker.account()
    assert h.service.book.position_qty("SPY") == 7
    assert h.service.book.equity() == pytest.approx(before)
    assert before == pytest.approx(account.equity - h.service.book.operator_pnl)
    assert not h.service.book.is_foreign("SPY")


async def test_an_entry_waiting_for_the_rate_limit_is_not_sent_after_a_halt(
    tmp_path: Path,
) -> None:
    """The state is asked again right before the HTTP request: a HALT that comes while an
    entry waits for Alpaca's rate limit stops it, and nothing reaches the broker."""
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = 98.0
        service = await service_on(alpaca, tmp_path, requests_per_min=60)
        for _ in range(11):  # the burst and one more: the next request waits ~1 s for a token
            await service.broker.account()
        for i, close in enumerate([*CALM, 98.0]):
            service.engine.on_bar(Bar("SPY", START + 60 * i, close, close, close, close, 1000))
        (order,) = service.book.working_orders()
        await settle()  # the submit task is now waiting for a token
        service.set_state(TradingState.HALTED, "kill by U1", "U1")
        await eventually(lambda: not order.working, within=10)
        assert order.status is OrderStatus.REJECTED and "HALTED" in order.reason
        assert ("POST", "/v2/orders") not in alpaca.requests
        service.journal.close()
