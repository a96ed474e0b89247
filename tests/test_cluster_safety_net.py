"""The order manager has the safety net of `tradebot run`: each check fires inside a real
`tradebot oms` process on a real nats-server, trading the loopback Alpaca through the real
alpaca-py clients. What the process did is read from its journal (a separate connection:
committed rows only), from its health endpoint, and from `tradebot kill`."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from bot.oms_cli import start_oms
from ops.cluster.credentials import oms_user
from ops.cluster.ingest import batches
from ops.cluster.server import LocalNats
from ops.cluster.subjects import (
    EXEC_STREAM,
    INTENTS_STREAM,
    oms_consumer,
)
from strategy.types import Bar, OrderStatus, TradingState
from tests.fakes.alpaca import AlpacaFake
from tests.support import eventually, free_port, spawn_tradebot, stop_tradebot
from tests.test_cluster_oms import (
    ACCOUNT,
    COID,
    PRICE,
    alpaca_env,
    connect,
    entry,
    oms_config,
    publish_intent,
    publish_mark,
    statuses,
)

QTY = 90  # $45,000 of SPY at $500: under risk.max_order_notional


@asynccontextmanager
async def oms_process(
    tmp_path: Path, server: LocalNats, alpaca: AlpacaFake, **config: object
) -> AsyncIterator[JetStreamContext]:
    """`tradebot oms` on the loopback Alpaca, its checks every second; stopped cleanly."""
    path = oms_config(
        tmp_path, server, **{"broker.name": "alpaca", "monitoring.health_check_sec": 1, **config}
    )
    nc, js = await connect(server)
    args = ("oms", "--account", ACCOUNT, "--config", str(path))
    proc = await spawn_tradebot(None, *args, **alpaca_env(alpaca), **server.env(oms_user(ACCOUNT)))
    try:
        await eventually(lambda: oms_started(js), within=30)
        yield js
    finally:
        _out, err = await stop_tradebot(proc)
        await nc.close()
    assert proc.returncode == 0, err.decode()


async def oms_started(js: JetStreamContext) -> bool:
    """The order manager takes intents: its durable consumer exists."""
    try:
        await js.consumer_info(INTENTS_STREAM, oms_consumer(ACCOUNT))
    except NotFoundError:
        return False
    return True


def journal_rows(tmp_path: Path, sql: str) -> list[sqlite3.Row]:
    uri = f"file:{tmp_path / 'journal.db'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        db.row_factory = sqlite3.Row
        try:
            return db.execute(sql).fetchall()
        except sqlite3.OperationalError:  # the table is not written yet
            return []


def state(tmp_path: Path) -> tuple[str, str]:
    """The journaled trading state and its reason (ACTIVE before the first change)."""
    rows = journal_rows(tmp_path, "select state, reason from state_changes order by id")
    return (rows[-1]["state"], rows[-1]["reason"]) if rows else ("ACTIVE", "")


def open_incidents(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """key -> (severity, message) of every incident the journal says is open."""
    incidents: dict[str, tuple[str, str]] = {}
    for row in journal_rows(tmp_path, "select * from alerts order by id"):
        if row["status"] == "open":
            incidents[row["key"]] = (row["severity"], row["message"])
        elif row["status"] == "resolved":
            incidents.pop(row["key"], None)
    return incidents


async def publish_mark_at(js: JetStreamContext, price: float) -> None:
    """Next minute's bar, priced `price`: newer than `publish_mark`'s, with its own message id."""
    ts = time.time() // 60 * 60 + 60
    bar = Bar("SPY", ts, price, price, price, price, 1000)
    [batch] = batches([bar], 16)
    await js.publish(batch.subject, batch.data, headers=batch.headers)


async def hold_spy(js: JetStreamContext, qty: int) -> None:
    """What a worker's entry does: a mark, an intent for `qty` SPY at $500, its fill."""
    await publish_mark(js)
    await publish_intent(js, dataclasses.replace(entry(), qty=qty))
    await eventually(lambda: _filled(js), within=15)


async def _filled(js: JetStreamContext) -> bool:
    if (await js.stream_info(EXEC_STREAM)).state.messages == 0:
        return False  # nothing to read yet
    return OrderStatus.FILLED in await statuses(js, COID)


async def test_a_drawdown_past_the_hard_limit_goes_reducing_with_an_incident(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """SPY bought for $45,000 of a $100,000 account falls to $50 in the marks: a 40% drawdown,
    past monitoring.drawdown_halt_pct (25%). The order manager's scheduled check moves trading
    to REDUCING and opens a critical `drawdown` incident (the daily-loss limit is set out of
    reach, so the drawdown is what does it)."""
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = PRICE
        async with oms_process(
            tmp_path, nats_server, alpaca, **{"risk.max_daily_loss_pct": 0.9}
        ) as js:
            await hold_spy(js, QTY)
            assert state(tmp_path)[0] == "ACTIVE"
            await publish_mark_at(js, 50.0)
            await eventually(lambda: state(tmp_path)[0] == "REDUCING", within=20)
            assert "drawdown" in state(tmp_path)[1]
            severity, message = open_incidents(tmp_path)["drawdown"]
            assert severity == "critical"
            assert "25% hard limit" in message


async def test_a_day_loss_on_marks_alone_goes_reducing(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """No fill and no entry after the loss: a mark 12% lower on $45,000 of SPY (a 5.4% day
    loss, past risk.max_daily_loss_pct's 3%) is enough for the order manager to stop entries."""
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = PRICE
        async with oms_process(tmp_path, nats_server, alpaca) as js:
            await hold_spy(js, QTY)
            await publish_mark_at(js, 440.0)
            await eventually(lambda: state(tmp_path)[0] == "REDUCING", within=20)
            assert "daily loss" in state(tmp_path)[1]


async def test_reconcile_finds_a_broker_only_position_and_a_cash_difference(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """Shares and cash that change at the broker behind the order manager's back (after its
    start-up recovery) are found by its scheduled reconcile: a `reconcile:QQQ` incident and a
    `cash` incident."""
    async with AlpacaFake() as alpaca:
        alpaca.prices.update(SPY=PRICE, QQQ=400.0)
        async with oms_process(
            tmp_path, nats_server, alpaca, **{"monitoring.reconcile_every_min": 0.1}
        ):
            alpaca.positions["QQQ"] = (10, 400.0)
            alpaca.cash -= 1_000.0
            await eventually(lambda: {"reconcile:QQQ", "cash"} <= set(open_incidents(tmp_path)), 30)
            assert open_incidents(tmp_path)["reconcile:QQQ"][0] == "critical"


async def test_the_dead_man_pauses_on_a_stale_feed_and_an_unreachable_broker(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """No mark within monitoring.stale_after_sec: entries PAUSED by the dead-man; a fresh mark
    resumes them. The broker answering 503 to every account read: PAUSED again; answering
    again: ACTIVE."""
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = PRICE
        async with oms_process(
            tmp_path, nats_server, alpaca, **{"monitoring.stale_after_sec": 1}
        ) as js:
            await eventually(lambda: state(tmp_path)[0] == "PAUSED", within=20)
            assert state(tmp_path)[1].startswith("dead-man: feed: no bar")
            await publish_mark_at(js, PRICE)  # fresh for the next minute and more
            await eventually(lambda: state(tmp_path)[0] == "ACTIVE", within=20)
            alpaca.fail_next("GET", "/v2/account", 503, times=10_000)
            await eventually(lambda: state(tmp_path)[0] == "PAUSED", within=30)
            assert state(tmp_path)[1].startswith("dead-man: broker unreachable")
            alpaca.clear_faults()
            await eventually(lambda: state(tmp_path)[0] == "ACTIVE", within=30)


async def health(port: int) -> dict[str, Any] | None:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/health") as response,
        ):
            return await response.json()
    except aiohttp.ClientError:
        return None


async def test_the_health_endpoint_answers_and_tradebot_kill_reports_the_outcome(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """The order manager serves /health on monitoring.health_port, so `tradebot kill` (the
    kill file, picked up by the order manager's kill switch) waits for the kill and reports
    it: FLAT after the 90 SPY are closed, exit 0."""
    port = free_port()
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = PRICE
        async with oms_process(
            tmp_path, nats_server, alpaca, **{"monitoring.health_port": port}
        ) as js:
            await eventually(lambda: health(port), within=10)
            answer = await health(port)
            assert answer is not None and answer["state"] == "ACTIVE"
            await hold_spy(js, QTY)
            kill = await spawn_tradebot(None, "kill", "--config", str(tmp_path / "config.yaml"))
            out, err = await asyncio.wait_for(kill.communicate(), 60)
            assert kill.returncode == 0, (out + err).decode()
            assert "FLAT after" in out.decode()
            answer = await health(port)
            assert answer is not None and answer["state"] == "HALTED"
            assert answer["kill"]["last"]["flat"] is True
            assert "SPY" not in alpaca.positions


async def test_an_unhealthy_journal_stops_entries_in_the_order_manager(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """The order manager's journal cannot write (another connection holds its write lock): a
    critical `journal` incident and REDUCING, as in `tradebot run`; writable again, the
    incident resolves and trading stays REDUCING until someone resumes."""
    running = await start_oms(
        ACCOUNT, oms_config(tmp_path, nats_server), nats_server.env(oms_user(ACCOUNT))
    )
    nc, js = await connect(nats_server)
    lock = sqlite3.connect(tmp_path / "journal.db", isolation_level=None)
    try:
        lock.execute("begin immediate")
        await publish_intent(js, entry())  # refused (no price yet): a row to write
        await eventually(lambda: "journal" in running.service.open_alerts, within=60)
        assert running.service.gate.state is TradingState.REDUCING
        assert "journal unhealthy" in running.service.gate.state_reason
        lock.execute("rollback")
        await eventually(lambda: "journal" not in running.service.open_alerts, within=60)
        assert running.service.gate.state is TradingState.REDUCING
    finally:
        lock.close()
        await running.stop()
        await nc.close()
