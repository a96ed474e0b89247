"""The order manager (`tradebot oms`): one per account, intents a fetch at a time, no duplicate
order ever. A real nats-server; the real alpaca-py clients against the loopback Alpaca where the
broker matters, the simulator elsewhere."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from pathlib import Path

import nats
from aiohttp import web
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from bot.oms_cli import RunningOms, start_oms
from ops.cluster.acks import read_components
from ops.cluster.codec import decode_updates, encode_intent, update_msg_id
from ops.cluster.config import ClusterConfig, cluster_config
from ops.cluster.control_requests import read_revisions, request_kill, request_pause, request_resume
from ops.cluster.credentials import oms_user
from ops.cluster.ingest import batches
from ops.cluster.server import LocalNats
from ops.cluster.subjects import (
    EXEC_STREAM,
    INTENTS_STREAM,
    LEASES_BUCKET,
    intent_subject,
    lease_key,
    oms_consumer,
)
from ops.config.settings import load_settings
from strategy.types import (
    Bar,
    Intent,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
    TradingState,
)
from tests.fakes.alpaca import AlpacaFake
from tests.support import eventually, spawn_tradebot, stop_tradebot, write_config

ACCOUNT, STRATEGY = "main", "MeanReversionV1"
COID = "tb-SPY-1767364200-e"
OMS_USER = oms_user(ACCOUNT)
PRICE = 500.0


def oms_config(tmp_path: Path, nats: LocalNats, **values: object) -> Path:
    return write_config(
        tmp_path,
        **{
            "cluster.nats_url": nats.url,
            "cluster.lease_ttl_sec": 2,
            "cluster.ack_wait_sec": 1,
            "strategy.symbols": ["SPY", "QQQ"],
            **values,
        },
    )


def alpaca_config(tmp_path: Path, nats: LocalNats) -> Path:
    return oms_config(tmp_path, nats, **{"broker.name": "alpaca"})


def alpaca_env(alpaca: AlpacaFake) -> dict[str, str]:
    return {
        "ALPACA_API_KEY": "PKTEST",
        "ALPACA_SECRET_KEY": "secret-test",
        "ALPACA_TRADING_URL": alpaca.trading_url,
        "ALPACA_TRADING_STREAM_URL": alpaca.trading_stream_url,
        "ALPACA_DATA_STREAM_URL": alpaca.data_stream_url,
        "ALPACA_DATA_URL": alpaca.data_url,
    }


def entry(coid: str = COID) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        symbol="SPY",
        side=Side.BUY,
        qty=1,
        type=OrderType.LIMIT,
        tif=TimeInForce.IOC,
        limit_price=PRICE,
        decision_price=PRICE,
        intent=Intent.ENTRY,
        created_ts=time.time(),
    )


async def publish_intent(js: JetStreamContext, order: OrderRequest) -> None:
    """What a worker does: the intent, with its client_order_id as message id."""
    await js.publish(
        intent_subject(ACCOUNT, STRATEGY, order.symbol),
        encode_intent(order, STRATEGY),
        headers={"Nats-Msg-Id": order.client_order_id},
    )


async def resume(
    js: JetStreamContext, cfg: ClusterConfig, account: str | None, user: str, reason: str
) -> dict[str, int]:
    """What the gateway's confirmed resume writes, bound to the revisions read just before."""
    shown = await read_revisions(
        js, cfg, (f"kill.{account or 'global'}", f"pause.{account or 'global'}")
    )
    return await request_resume(js, cfg, account, user, reason, shown)


async def publish_mark(js: JetStreamContext, symbol: str = "SPY") -> None:
    """The current minute's bar: the order manager's reference price for the collar."""
    ts = time.time() // 60 * 60
    bar = Bar(symbol, ts, PRICE, PRICE, PRICE, PRICE, 1000)
    [batch] = batches([bar], 16)
    await js.publish(batch.subject, batch.data, headers=batch.headers)


async def exec_updates(js: JetStreamContext) -> list[tuple[str, str, OrderUpdate]]:
    """Every update on the exec stream: (subject, message id, update); the updates of a
    batch message (a round's, on exec.{account}.{strategy}._batch) share its subject and id."""
    try:
        info = await js.stream_info(EXEC_STREAM)
    except NotFoundError:
        return []
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(EXEC_STREAM, seq)
        msg_id = (msg.headers or {}).get("Nats-Msg-Id", "")
        found.extend((msg.subject, msg_id, u) for u in decode_updates(msg.data or b""))
    return found


async def statuses(js: JetStreamContext, coid: str = COID) -> list[OrderStatus]:
    return [u.status for _, _, u in await exec_updates(js) if u.client_order_id == coid]


async def intents_done(js: JetStreamContext) -> bool:
    """Every intent delivered to the order manager is acknowledged."""
    info = await js.consumer_info(INTENTS_STREAM, oms_consumer(ACCOUNT))
    return info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq > 0


async def lease_lapsed(js: JetStreamContext) -> bool:
    kv = await js.key_value(LEASES_BUCKET)
    try:
        await kv.get(lease_key(ACCOUNT))
    except NotFoundError:
        return True
    return False


async def connect(server: LocalNats) -> tuple[nats.NATS, JetStreamContext]:
    nc = await server.connect()
    return nc, nc.jetstream()


async def test_a_second_order_manager_is_refused_and_named_the_holder(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """`tradebot oms` for an account whose lease is held exits 2 saying who holds it."""
    config = oms_config(tmp_path, nats_server)
    first = await start_oms(ACCOUNT, config, nats_server.env(OMS_USER))
    try:
        second = await spawn_tradebot(
            None, "oms", "--account", ACCOUNT, "--config", str(config), **nats_server.env(OMS_USER)
        )
        _out, err = await asyncio.wait_for(second.communicate(), 60)
    finally:
        await first.stop()
    assert second.returncode == 2, err.decode()
    message = err.decode()
    assert f"tradebot: oms.{ACCOUNT} is held by oms.{ACCOUNT} on " in message
    assert f"(pid {os.getpid()})" in message  # the holder: this test's order manager


async def test_intents_are_refused_while_halted(tmp_path: Path, nats_server: LocalNats) -> None:
    """A HALTED order manager sends nothing; the worker learns the refusal as a REJECTED update
    on its exec subject, and the intent is acknowledged (not redelivered forever)."""
    running = await start_oms(ACCOUNT, oms_config(tmp_path, nats_server), nats_server.env(OMS_USER))
    nc, js = await connect(nats_server)
    try:
        running.service.set_state(TradingState.HALTED, "test", "U1")
        await publish_intent(js, entry())
        await eventually(lambda: intents_done(js))
        updates = [u for _, _, u in await exec_updates(js)]
        assert [u.status for u in updates] == [OrderStatus.REJECTED]
        assert "HALTED" in updates[0].reason
        assert await running.service.broker.get_order(COID) is None
    finally:
        await running.stop()
        await nc.close()


class JournalWitness(AlpacaFake):
    """An Alpaca that reads the order manager's journal (a separate connection: committed rows
    only) at the moment each order POST arrives."""

    def __init__(self, journal: Path) -> None:
        super().__init__()
        self.journal = journal
        self.journaled_at_post: list[int] = []

    async def _submit(self, request: web.Request) -> web.Response:
        coid = (await request.json())["client_order_id"]
        with sqlite3.connect(self.journal) as db:
            rows = db.execute("select count(*) from orders where client_order_id = ?", (coid,))
            self.journaled_at_post.append(rows.fetchone()[0])
        return await super()._submit(request)


async def test_an_intent_is_committed_to_the_journal_before_its_post(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """At the moment the broker sees the POST, the journal already holds the order: with the
    journal's writer held off (another connection has the write lock) the order waits for it."""
    async with JournalWitness(tmp_path / "journal.db") as alpaca:
        alpaca.prices["SPY"] = PRICE
        running = await start_oms(
            ACCOUNT,
            alpaca_config(tmp_path, nats_server),
            alpaca_env(alpaca) | nats_server.env(OMS_USER),
        )
        nc, js = await connect(nats_server)
        lock = sqlite3.connect(tmp_path / "journal.db", isolation_level=None)
        try:
            await publish_mark(js)
            await eventually(lambda: running.service.book.last_price("SPY"))
            lock.execute("begin immediate")
            await publish_intent(js, entry())
            await eventually(lambda: running.service.book.order(COID))
            # the writer tried to commit the order row and could not
            await eventually(lambda: running.service.journal.health()["write_errors"], within=30)
            lock.execute("rollback")
            await eventually(lambda: intents_done(js), within=30)
            assert alpaca.journaled_at_post == [1], await exec_updates(js)
        finally:
            lock.close()
            await running.stop()
            await nc.close()


async def test_every_update_is_published_on_the_exec_subject_with_its_message_id(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """The ack and the fill each go out on exec.{account}.{strategy}.{SYM}, message id
    `update_msg_id`; a second delivery of the same update is dropped by the server."""
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = PRICE
        running = await start_oms(
            ACCOUNT,
            alpaca_config(tmp_path, nats_server),
            alpaca_env(alpaca) | nats_server.env(OMS_USER),
        )
        nc, js = await connect(nats_server)
        try:
            await publish_mark(js)
            await eventually(lambda: running.service.book.last_price("SPY"))
            await publish_intent(js, entry())
            await eventually(lambda: intents_done(js), within=10)
            # the fill comes on the trade_updates stream
            await eventually(lambda: _has_status(js, OrderStatus.FILLED), within=10)
            published = [m for m in await exec_updates(js) if m[2].client_order_id == COID]
            assert {s for s, _, _ in published} == {f"exec.{ACCOUNT}.{STRATEGY}.SPY"}
            assert all(msg_id == update_msg_id(u) for _, msg_id, u in published)
            assert len({msg_id for _, msg_id, _ in published}) == len(published)
            fill = next(u for _, _, u in published if u.fill is not None)
            assert (fill.fill.qty, fill.fill.price) == (1, PRICE)  # type: ignore[union-attr]
        finally:
            await running.stop()
            await nc.close()


async def _has_status(js: JetStreamContext, status: OrderStatus) -> bool:
    return status in await statuses(js)


async def test_an_unacked_intent_redelivered_is_not_sent_again(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """An order manager stopped while its POST was in flight never acknowledged the intent;
    the next one gets it again after ack_wait, finds it in the journal and at the broker, sends
    nothing, publishes what the broker says and acknowledges it."""
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = PRICE
        config = alpaca_config(tmp_path, nats_server)
        first = await start_oms(ACCOUNT, config, alpaca_env(alpaca) | nats_server.env(OMS_USER))
        nc, js = await connect(nats_server)
        second: RunningOms | None = None
        try:
            await publish_mark(js)
            await eventually(lambda: first.service.book.last_price("SPY"))
            alpaca.hold_order_replies()
            await publish_intent(js, entry())
            await eventually(lambda: alpaca.orders_for(COID))  # placed; the reply is held
            await first.oms.stop()  # stops taking intents: this one stays unacknowledged
            alpaca.release_order_replies()
            await first.stop()
            info = await js.consumer_info(INTENTS_STREAM, oms_consumer(ACCOUNT))
            assert info.num_ack_pending == 1
            second = await start_oms(
                ACCOUNT, config, alpaca_env(alpaca) | nats_server.env(OMS_USER)
            )
            await eventually(lambda: intents_done(js), within=10)
            assert second.oms.not_resent == 1
            assert len(alpaca.orders_for(COID)) == 1
            assert alpaca.requests.count(("POST", "/v2/orders")) == 1
            assert OrderStatus.FILLED in await statuses(js)
        finally:
            if second is not None:
                await second.stop()
            await nc.close()


async def test_an_order_manager_killed_between_post_and_ack_yields_one_order(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """`tradebot oms` SIGKILLed while the broker holds its order's reply: after a restart the
    redelivered intent is found at the broker, and the broker has exactly one order."""
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = PRICE
        config = alpaca_config(tmp_path, nats_server)
        nc, js = await connect(nats_server)
        args = ("oms", "--account", ACCOUNT, "--config", str(config))
        proc = await spawn_tradebot(None, *args, **alpaca_env(alpaca) | nats_server.env(OMS_USER))
        try:
            await eventually(lambda: _has_consumer(js), within=30)
            await publish_mark(js)
            alpaca.hold_order_replies()
            await publish_intent(js, entry())
            await eventually(lambda: alpaca.orders_for(COID), within=15)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            alpaca.release_order_replies()
            await eventually(lambda: lease_lapsed(js), within=15)
            proc = await spawn_tradebot(
                None, *args, **alpaca_env(alpaca) | nats_server.env(OMS_USER)
            )
            await eventually(lambda: intents_done(js), within=30)
            assert OrderStatus.FILLED in await statuses(js)
        finally:
            _out, err = await stop_tradebot(proc)
            await nc.close()
        assert proc.returncode == 0, err.decode()
        assert len(alpaca.orders_for(COID)) == 1
        assert alpaca.requests.count(("POST", "/v2/orders")) == 1
        assert b"the broker has it" in err


async def _has_consumer(js: JetStreamContext) -> bool:
    try:
        await js.consumer_info(INTENTS_STREAM, oms_consumer(ACCOUNT))
    except NotFoundError:
        return False
    return True


async def test_a_kill_and_a_pause_from_the_control_plane_are_obeyed_and_acknowledged(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """pause.{account} moves ACTIVE to PAUSED and is acknowledged; kill.global takes the kill
    path (HALTED, flatten) and is acknowledged by the order manager's component key."""
    config = oms_config(tmp_path, nats_server)
    running = await start_oms(ACCOUNT, config, nats_server.env(OMS_USER))
    nc, js = await connect(nats_server)
    cfg = cluster_config(load_settings(config))
    try:
        paused = await request_pause(js, cfg, ACCOUNT, "U1", "test")
        await eventually(lambda: running.service.gate.state is TradingState.PAUSED)
        await eventually(lambda: _acked(js, cfg, f"pause.{ACCOUNT}", paused))
        killed = await request_kill(js, cfg, None, "U2", "test")
        await eventually(lambda: running.service.gate.state is TradingState.HALTED)
        await eventually(lambda: _acked(js, cfg, "kill.global", killed))
        await eventually(lambda: running.service.kill_switch.status().last is not None)
    finally:
        await running.stop()
        await nc.close()


async def _acked(js: JetStreamContext, cfg: ClusterConfig, key: str, revision: int) -> bool:
    for component in await read_components(js, cfg):
        if component.key == f"oms.{ACCOUNT}":
            return component.acks.get(key) == revision
    return False


async def test_a_fill_after_a_restart_reaches_the_strategy_that_sent_the_order(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """An order taken by an order manager that has since restarted still belongs to its
    strategy: the fill the broker reports later goes out on that strategy's exec subject (the
    strategy is part of the client_order_id), not the account's, so the worker's book learns it
    and its symbol is not left with a working order forever."""
    coid = f"tb-{STRATEGY}-SPY-1767364200-e"
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = PRICE
        alpaca.delay_fills = True  # placed now, filled when the test says
        config, env = (
            alpaca_config(tmp_path, nats_server),
            alpaca_env(alpaca) | nats_server.env(OMS_USER),
        )
        nc, js = await connect(nats_server)
        first = await start_oms(ACCOUNT, config, env)
        try:
            await publish_mark(js)
            await eventually(lambda: first.service.book.last_price("SPY"))
            await publish_intent(js, entry(coid))
            await eventually(lambda: intents_done(js), within=10)
        finally:
            await first.stop()
        second = await start_oms(ACCOUNT, config, env)
        try:
            alpaca.fill_pending()
            await eventually(lambda: _has_status_of(js, coid, OrderStatus.FILLED), within=10)
            fills = [s for s, _, u in await exec_updates(js) if u.client_order_id == coid]
            assert fills[-1] == f"exec.{ACCOUNT}.{STRATEGY}.SPY"
        finally:
            await second.stop()
            await nc.close()


async def _has_status_of(js: JetStreamContext, coid: str, status: OrderStatus) -> bool:
    return status in await statuses(js, coid)


async def test_a_pause_restored_after_a_restart_is_lifted_when_withdrawn(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """An order manager paused by the control plane and restarted comes back PAUSED (restored
    from the journal); withdrawing the pause then resumes it, as it would have before."""
    config = oms_config(tmp_path, nats_server)
    nc, js = await connect(nats_server)
    cfg = cluster_config(load_settings(config))
    first = await start_oms(ACCOUNT, config, nats_server.env(OMS_USER))
    try:
        await request_pause(js, cfg, ACCOUNT, "U1", "test")
        await eventually(lambda: first.service.gate.state is TradingState.PAUSED)
    finally:
        await first.stop()
    second = await start_oms(ACCOUNT, config, nats_server.env(OMS_USER))
    try:
        assert second.service.gate.state is TradingState.PAUSED
        await resume(js, cfg, ACCOUNT, "U1", "test")
        await eventually(lambda: second.service.gate.state is TradingState.ACTIVE)
    finally:
        await second.stop()
        await nc.close()


async def test_a_simulated_order_manager_replaying_history_keeps_the_bars_time(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """On the simulator, market time is the bars' own: bars from a past day (a replayed CSV)
    set the clock back to their time, so an intent decided on them is sent, not refused as
    stale against today's clock."""
    running = await start_oms(ACCOUNT, oms_config(tmp_path, nats_server), nats_server.env(OMS_USER))
    nc, js = await connect(nats_server)
    past = 1_767_364_200.0  # 2026-01-02 09:30 New York
    try:
        bar = Bar("SPY", past, PRICE, PRICE, PRICE, PRICE, 1000)
        [batch] = batches([bar], 16)
        await js.publish(batch.subject, batch.data, headers=batch.headers)
        await eventually(lambda: running.service.book.last_price("SPY"))
        order = entry()
        await publish_intent(js, OrderRequest(**{**_fields(order), "created_ts": past + 60}))
        await eventually(lambda: intents_done(js))
        assert OrderStatus.REJECTED not in await statuses(js), await exec_updates(js)
        assert running.service.clock.now() == past + 60
    finally:
        await running.stop()
        await nc.close()


def _fields(order: OrderRequest) -> dict[str, object]:
    return {name: getattr(order, name) for name in OrderRequest.__slots__}


async def test_every_close_prices_the_book_and_only_what_it_trades_goes_on_as_a_bar(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """A minute's batch gives every symbol its last price (the collar's reference for any
    intent), but only the bars of symbols the order manager holds or has working reach its
    engine and simulated broker, plus one bar a batch that keeps its market time moving."""
    symbols = ["SPY", "QQQ", "IWM", "DIA"]
    config = oms_config(tmp_path, nats_server, **{"strategy.symbols": symbols})
    running = await start_oms(ACCOUNT, config, nats_server.env(OMS_USER))
    nc, js = await connect(nats_server)
    book, engine = running.service.book, running.service.engine
    ts = time.time() // 60 * 60
    try:
        for minute, price in enumerate((PRICE, PRICE - 1)):
            at = ts + 60 * minute
            [batch] = batches([Bar(s, at, price, price, price, price, 1000) for s in symbols], 1)
            await js.publish(batch.subject, batch.data, headers=batch.headers)
            await eventually(lambda: book.last_price("DIA") == (price, at + 60))  # noqa: B023
            if minute == 0:
                assert engine.counters.bars == 1  # nothing held or working: one bar passes
                assert all(book.last_price(s) == (PRICE, ts + 60) for s in symbols)
                await publish_intent(js, entry())  # SPY working until its next bar
                await eventually(lambda: intents_done(js))
                assert book.has_working_order("SPY")
        assert engine.counters.bars == 2  # then SPY's bar only: it fills the order
        await eventually(lambda: book.position("SPY") is not None)
        assert book.position_qty("SPY") == 1
    finally:
        await running.stop()
        await nc.close()
