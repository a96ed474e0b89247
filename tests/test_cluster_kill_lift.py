"""A kill through the control plane and its lifting, end to end: a real nats-server, the order
manager on the loopback Alpaca (real alpaca-py clients), a strategy worker in this process."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from nats.js import JetStreamContext

from bot.oms_cli import RunningOms, start_oms
from ops.cluster.acks import read_components
from ops.cluster.codec import decode_intent
from ops.cluster.config import ClusterConfig, cluster_config
from ops.cluster.control import ControlPlane
from ops.cluster.control_requests import request_kill
from ops.cluster.credentials import oms_user
from ops.cluster.ingest import batches
from ops.cluster.replay import read_stream
from ops.cluster.server import LocalNats
from ops.cluster.subjects import INTENTS_STREAM
from ops.cluster.worker import Worker
from ops.cluster.worker_setup import build_worker, follow_control
from ops.config.settings import load_settings
from strategy.types import Bar, Intent, OrderStatus, TradingState
from tests.fakes.alpaca import AlpacaFake
from tests.support import eventually
from tests.test_cluster_oms import (
    ACCOUNT,
    COID,
    STRATEGY,
    alpaca_config,
    alpaca_env,
    entry,
    publish_intent,
    publish_mark,
    resume,
    statuses,
)

ALL = tuple(range(16))  # the shipped cluster.partitions: this worker takes every symbol
WORKER = f"worker.{STRATEGY}-p00-15"


@contextlib.asynccontextmanager
async def _cluster(
    tmp_path: Path, server: LocalNats, alpaca: AlpacaFake
) -> AsyncIterator[tuple[RunningOms, Worker, JetStreamContext, ClusterConfig]]:
    """`tradebot oms` (its control plane included) and a worker that follows the control plane
    as `tradebot worker` does (restored, its exec updates applied; bars fed by the test)."""
    config = alpaca_config(tmp_path, server)
    settings = load_settings(config)
    cfg = cluster_config(settings)
    running = await start_oms(ACCOUNT, config, alpaca_env(alpaca) | server.env(oms_user(ACCOUNT)))
    nc = await server.connect()
    js = nc.jetstream()
    worker = build_worker(js, settings, cfg, STRATEGY, ALL, idle_fetch_sec=0.05)
    control = ControlPlane(js, cfg, "worker", WORKER.split(".", 1)[1], ACCOUNT)
    task: asyncio.Task[None] | None = None
    try:
        await worker.restore()
        await control.start(follow_control(worker.gate, control))
        task = asyncio.create_task(worker.run())
        yield running, worker, js, cfg
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await control.stop()
        await running.stop()
        await nc.close()


async def _both_acked(js: JetStreamContext, cfg: ClusterConfig, key: str, revision: int) -> bool:
    """The order manager's and the worker's heartbeats acknowledge this revision of the key."""
    acked = {c.key for c in await read_components(js, cfg) if c.acks.get(key, 0) >= revision}
    return {f"oms.{ACCOUNT}", WORKER} <= acked


async def test_a_lifted_kill_resumes_the_order_manager_and_the_worker(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """kill.global halts the order manager (flat at the broker) and the worker; the resume
    record takes both back to ACTIVE through the resume path, each acknowledges it, and the
    account's intents are sent to the broker again."""
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = 500.0
        async with _cluster(tmp_path, nats_server, alpaca) as (running, worker, js, cfg):
            service = running.service
            await publish_mark(js)
            await eventually(lambda: service.book.last_price("SPY"))
            await publish_intent(js, entry())
            await eventually(lambda: alpaca.positions.get("SPY"), within=10)

            killed = await request_kill(js, cfg, None, "U1", "test")
            await eventually(lambda: _flat(running), within=10)
            assert alpaca.positions == {}
            assert worker.engine.gate.state is TradingState.HALTED
            await eventually(lambda: _both_acked(js, cfg, "kill.global", killed))

            lifted = await resume(js, cfg, None, "U2", "all clear")
            for key, revision in lifted.items():  # kill.global, then pause.global
                await eventually(lambda k=key, r=revision: _both_acked(js, cfg, k, r))
            assert service.gate.state is TradingState.ACTIVE
            assert "resumed by U2" in service.gate.state_reason
            assert worker.engine.gate.state is TradingState.ACTIVE

            again = entry("tb-SPY-again-e")
            await publish_intent(js, again)
            await eventually(
                lambda: _has_status(js, again.client_order_id, OrderStatus.FILLED), within=10
            )
            assert OrderStatus.REJECTED not in await statuses(js, again.client_order_id)
            assert OrderStatus.FILLED in await statuses(js, COID)


def _flat(running: RunningOms) -> bool:
    last = running.service.kill_switch.status().last
    return running.service.gate.state is TradingState.HALTED and bool(last and last.flat)


async def _has_status(js: JetStreamContext, coid: str, status: OrderStatus) -> bool:
    return status in await statuses(js, coid)


def _minute_bars(closes: list[float], last_ts: float) -> list[Bar]:
    first = last_ts - 60 * (len(closes) - 1)
    return [Bar("SPY", first + 60 * i, c, c, c, c, 1000) for i, c in enumerate(closes)]


async def _publish_bars(js: JetStreamContext, bars: list[Bar]) -> None:
    for b in bars:
        for batch in batches([b], 16):
            await js.publish(batch.subject, batch.data, headers=batch.headers)


async def _intents(js: JetStreamContext) -> list[tuple[str, Intent]]:
    found = []
    async for msg in read_stream(js, INTENTS_STREAM, [f"intent.{ACCOUNT}.{STRATEGY}.>"]):
        order, _ = decode_intent(msg.data)
        found.append((order.symbol, order.intent))
    return found


async def test_after_a_kill_the_workers_book_is_flat_and_it_never_exits_what_the_kill_closed(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """A worker holding SPY (its own entry, filled at the broker); a kill through the control
    plane flattens the account (fills under the kill's own orders, not the strategy's); the
    worker's book follows them to flat, and after the kill is lifted a bar that would exit a
    held position produces no intent for SPY."""
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = 96.5  # below the entry's limit: the buy fills
        now = time.time() // 60 * 60
        # a quiet tape, then a sharp drop: the worker buys the dip
        drop = _minute_bars([100.0, 100.1] * 12 + [97.0], last_ts=now - 60)
        async with _cluster(tmp_path, nats_server, alpaca) as (running, worker, js, cfg):
            service = running.service
            await _publish_bars(js, drop)
            await eventually(lambda: worker.engine.book.position_qty("SPY") > 0, within=15)
            held = worker.engine.book.position_qty("SPY")
            assert alpaca.positions["SPY"][0] == held
            assert [i for _, i in await _intents(js)] == [Intent.ENTRY]

            await request_kill(js, cfg, None, "U1", "test")
            await eventually(lambda: _flat(running), within=10)
            assert alpaca.positions == {}
            await eventually(lambda: worker.engine.book.position("SPY") is None)
            assert worker.engine.book.working_orders() == []

            await resume(js, cfg, None, "U1", "all clear")
            await eventually(lambda: service.gate.state is TradingState.ACTIVE)
            await eventually(lambda: worker.engine.gate.state is TradingState.ACTIVE)
            decided = worker.counters.bars
            # no change from the last close: the z-score an open position exits on
            await _publish_bars(js, _minute_bars([97.0], last_ts=now))
            await eventually(lambda: worker.counters.bars > decided)
            await worker.engine.drain()
            assert [i for _, i in await _intents(js)] == [Intent.ENTRY]
            assert worker.engine.book.position("SPY") is None
