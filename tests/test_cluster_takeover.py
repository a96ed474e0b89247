"""A standby that takes an account over does not send its predecessor's orders again: an intent
it has not seen is looked up at the broker first and, found, taken into its book and journal as
the order it is. A real nats-server, real `tradebot oms` processes, the real alpaca-py clients
against the loopback Alpaca."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from bot.oms_cli import start_oms
from ops.cluster.credentials import oms_user
from ops.cluster.server import LocalNats
from strategy.types import OrderStatus
from tests.fakes.alpaca import AlpacaFake
from tests.support import eventually, spawn_tradebot, stop_tradebot
from tests.test_cluster_oms import (
    ACCOUNT,
    PRICE,
    STRATEGY,
    _has_consumer,
    alpaca_config,
    alpaca_env,
    connect,
    exec_updates,
    intents_done,
    lease_lapsed,
    publish_intent,
    publish_mark,
    statuses,
)
from tests.test_cluster_oms import entry as an_entry

TAKEN = f"tb-{STRATEGY}-SPY-1767364200-e"  # a worker's id: the strategy is in it


def journal_rows(path: Path, table: str, coid: str) -> int:
    with sqlite3.connect(path) as db:
        query = f"select count(*) from {table} where client_order_id = ?"
        return int(db.execute(query, (coid,)).fetchone()[0])


async def test_a_standby_does_not_send_the_killed_holders_order_again(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """The holder is SIGKILLed with an entry POSTed and filled, its reply held; the standby,
    with its own journal (as on another host), finds the order at the broker before its
    start-up recovery: nothing is POSTed again, the shares are the strategy's (no
    'the journal never saw' incident, nothing held for the operator, the book's cash is the
    broker's), the journal has the order and its fill, and the fill is on the strategy's exec
    subject."""
    holder_dir, standby_dir = tmp_path / "holder", tmp_path / "standby"
    holder_dir.mkdir()
    standby_dir.mkdir()
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = PRICE
        env = alpaca_env(alpaca) | nats_server.env(oms_user(ACCOUNT))
        holder_config = alpaca_config(holder_dir, nats_server)
        nc, js = await connect(nats_server)
        proc = await spawn_tradebot(
            None, "oms", "--account", ACCOUNT, "--config", str(holder_config), **env
        )
        try:
            await eventually(lambda: _has_consumer(js), within=30)
            await publish_mark(js)
            alpaca.hold_order_replies()
            await publish_intent(js, an_entry(TAKEN))
            await eventually(lambda: alpaca.orders_for(TAKEN), within=15)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        finally:
            await stop_tradebot(proc)
        alpaca.release_order_replies()
        assert alpaca.orders_for(TAKEN)[0]["status"] == "filled"
        await eventually(lambda: lease_lapsed(js), within=15)
        standby = await start_oms(ACCOUNT, alpaca_config(standby_dir, nats_server), env)
        try:
            await eventually(lambda: intents_done(js), within=30)
            assert alpaca.requests.count(("POST", "/v2/orders")) == 1
            assert len(alpaca.orders_for(TAKEN)) == 1
            service = standby.service
            assert not [k for k in service.open_alerts if k.startswith("reconcile:")]
            assert service.book.foreign() == {}
            assert service.book.cash == pytest.approx(alpaca.cash)  # no cash mismatch
            position = service.book.position("SPY")
            assert position is not None and position.qty == 1
            journal = standby_dir / "journal.db"
            await service.journal.aflush()
            assert journal_rows(journal, "orders", TAKEN) == 1
            assert journal_rows(journal, "fills", TAKEN) == 1
            assert OrderStatus.FILLED in await statuses(js, TAKEN)
            subjects = {s for s, _, u in await exec_updates(js) if u.client_order_id == TAKEN}
            assert subjects == {f"exec.{ACCOUNT}.{STRATEGY}.SPY"}
        finally:
            await standby.stop()
            await nc.close()


async def test_the_first_intent_after_taking_the_lease_is_looked_up_before_it_is_sent(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """An order the broker already has under an intent's client_order_id (a predecessor sent
    it; this process never saw it, nor its stream events): the first intent this order manager
    takes is looked up, found, and not sent; the book and journal take it as the strategy's
    order and its fill goes out on the strategy's exec subject."""
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = PRICE
        alpaca.mute_trade_updates = True  # its events went to the predecessor
        running = await start_oms(
            ACCOUNT,
            alpaca_config(tmp_path, nats_server),
            alpaca_env(alpaca) | nats_server.env(oms_user(ACCOUNT)),
        )
        nc, js = await connect(nats_server)
        try:
            await publish_mark(js)
            await eventually(lambda: running.service.book.last_price("SPY"))
            await _post_at_broker(alpaca, TAKEN)
            await publish_intent(js, an_entry(TAKEN))
            await eventually(lambda: intents_done(js), within=10)
            assert alpaca.requests.count(("POST", "/v2/orders")) == 1  # the predecessor's
            assert running.oms.not_resent == 1
            position = running.service.book.position("SPY")
            assert position is not None and position.qty == 1
            await running.service.journal.aflush()
            assert journal_rows(tmp_path / "journal.db", "fills", TAKEN) == 1
            published = [(s, u) for s, _, u in await exec_updates(js) if u.client_order_id == TAKEN]
            assert [u.status for _, u in published] == [OrderStatus.FILLED]
            assert {s for s, _ in published} == {f"exec.{ACCOUNT}.{STRATEGY}.SPY"}
        finally:
            await running.stop()
            await nc.close()


async def _post_at_broker(alpaca: AlpacaFake, coid: str) -> None:
    """The predecessor's POST of the same order, over the wire."""
    order = an_entry(coid)
    body = {
        "symbol": order.symbol,
        "qty": str(order.qty),
        "side": "buy",
        "type": "limit",
        "time_in_force": "ioc",
        "limit_price": str(order.limit_price),
        "client_order_id": coid,
    }
    headers = {"APCA-API-KEY-ID": "PKTEST", "APCA-API-SECRET-KEY": "secret-test"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{alpaca.trading_url}/v2/orders", json=body, headers=headers) as reply,
    ):
        assert reply.status == 200, await reply.text()
