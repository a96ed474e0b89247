"""Ingest and strategy workers against a real nats-server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import signal
from collections.abc import AsyncIterator, Awaitable, Iterable
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

import strategy.book as book_module
from ops.cluster.codec import decode_intent, encode_intent, encode_update, update_msg_id
from ops.cluster.config import ClusterConfig, cluster_config
from ops.cluster.credentials import worker_user
from ops.cluster.exec_publisher import ExecPublisher
from ops.cluster.ingest import BarPublisher, ingest
from ops.cluster.intents import IntentBroker
from ops.cluster.replay import read_stream, replay_span
from ops.cluster.server import LocalNats
from ops.cluster.streams import ensure_streams
from ops.cluster.subjects import (
    BARS_STREAM,
    EXEC_STREAM,
    INTENTS_STREAM,
    consumer_name,
    exec_subject,
    intent_subject,
    partition_of,
)
from ops.cluster.worker import Worker
from ops.cluster.worker_setup import build_worker
from ops.config.settings import Settings, load_settings
from strategy.clock import ManualClock
from strategy.types import (
    Bar,
    Fill,
    Intent,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)
from strategy.venues.bars import synthetic_bars
from strategy.venues.sim_feed import SimFeed
from tests.support import START, bar, eventually, spawn_tradebot, stop_tradebot, write_config

SYMBOLS = [f"T{chr(65 + i)}" for i in range(16)]
PARTITIONS = 4
ALL = tuple(range(PARTITIONS))
STRATEGY = "MeanReversionV1"


def _config(tmp_path: Path, server: LocalNats, **more: object) -> Path:
    return write_config(
        tmp_path,
        **{
            "cluster.nats_url": server.url,
            "cluster.partitions": PARTITIONS,
            "cluster.ack_wait_sec": 1.0,  # a killed worker's unacked bars come back soon
            "strategy.symbols": SYMBOLS,
            **more,
        },
    )


@contextlib.asynccontextmanager
async def _cluster(
    tmp_path: Path, server: LocalNats, **more: object
) -> AsyncIterator[tuple[Settings, ClusterConfig, JetStreamContext, Client]]:
    settings = load_settings(_config(tmp_path, server, **more))
    cfg = cluster_config(settings)
    nc = await server.connect()
    js = nc.jetstream()
    await ensure_streams(js, cfg)
    try:
        yield settings, cfg, js, nc
    finally:
        await nc.close()


MINUTES = 200
EVERY_BAR = list(synthetic_bars(SYMBOLS, seed=7, start_ts=START, count=MINUTES))


def _bars(minutes: int, first: int = 0) -> list[Bar]:
    """The bars of every symbol from minute `first`, for `minutes` minutes (one draw, sliced)."""
    return EVERY_BAR[first * len(SYMBOLS) : (first + minutes) * len(SYMBOLS)]


async def _publish(js: JetStreamContext, bars: Iterable[Bar]) -> None:
    publisher = BarPublisher(js, PARTITIONS)
    await ingest(SimFeed(list(bars), ManualClock(START)), publisher)


async def _drained(js: JetStreamContext, strategy: str) -> bool:
    """Every bar of every partition delivered and acked by the strategy's consumers."""
    for partition in ALL:
        try:
            info = await js.consumer_info(BARS_STREAM, consumer_name(strategy, partition))
        except NotFoundError:
            return False
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def _intents(js: JetStreamContext, strategy: str) -> list[tuple[str, bytes]]:
    """(message id, the intent as the other strategy would have published it), in stream order."""
    found = []
    async for msg in read_stream(js, INTENTS_STREAM, [f"intent.main.{strategy}.>"]):
        order, _ = decode_intent(msg.data)
        assert msg.headers is not None
        found.append((msg.headers["Nats-Msg-Id"], encode_intent(order, "any")))
    return found


@contextlib.asynccontextmanager
async def _running(worker: Worker) -> AsyncIterator[Worker]:
    await worker.restore()
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_two_ingestors_of_the_same_bars_store_each_bar_once(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """Two ingestors (two connections) publishing the same feed batch it alike (a partition's
    bars of one minute): the server keeps one copy of each batch."""
    bars = _bars(20)
    async with _cluster(tmp_path, nats_server) as (_, _cfg, js, _nc):
        other = await nats_server.connect()
        first, second = BarPublisher(js, PARTITIONS), BarPublisher(other.jetstream(), PARTITIONS)
        counted = await asyncio.gather(
            ingest(SimFeed(bars, ManualClock(START)), first),
            ingest(SimFeed(bars, ManualClock(START)), second),
        )
        await other.close()
        info = await js.stream_info(BARS_STREAM)
    assert info.state.messages == 20 * PARTITIONS
    assert sum(c.published for c in counted) == len(bars)
    assert sum(c.duplicates for c in counted) == len(bars)


async def test_a_minutes_bars_go_out_as_one_batch_a_partition_once_the_feed_pauses(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """A live feed's minute close, then nothing until the next minute: the minute's bars are
    stored as one message per partition within the linger, not held for the next bar."""
    async with _cluster(tmp_path, nats_server) as (_, _cfg, js, _nc):
        publisher = BarPublisher(js, PARTITIONS, linger_sec=0.05)
        for b in _bars(1):
            await publisher.publish(b)

        async def stored() -> int:
            return (await js.stream_info(BARS_STREAM)).state.messages

        await eventually(lambda: _is(stored(), PARTITIONS))
        await publisher.flush()
    assert publisher.counters.published == len(SYMBOLS)
    assert publisher.counters.batches == PARTITIONS


async def _is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def test_a_bar_not_newer_than_the_last_of_its_symbol_is_acked_and_dropped(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """An older bar published late (another message id) is acked, counted and never decided."""
    async with _cluster(tmp_path, nats_server) as (settings, cfg, js, _nc):
        worker = build_worker(js, settings, cfg, STRATEGY, ALL)
        async with _running(worker):
            await _publish(js, [bar("TA", 5, 100.0), bar("TA", 4, 101.0), bar("TB", 4, 50.0)])
            await eventually(lambda: _drained(js, STRATEGY))
        assert worker.counters.stale == 1
        assert worker.engine.counters.bars == 2
        assert worker.engine.book.last_price("TA") == (100.0, START + 6 * 60)


async def test_intents_carry_the_client_order_id_and_a_republished_one_is_dropped(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """Each intent's Nats-Msg-Id is its client_order_id; publishing it again stores nothing."""
    async with _cluster(tmp_path, nats_server) as (settings, cfg, js, _nc):
        worker = build_worker(js, settings, cfg, STRATEGY, ALL)
        async with _running(worker):
            await _publish(js, _bars(80))
            await eventually(lambda: _drained(js, STRATEGY), within=20)
        intents = await _intents(js, STRATEGY)
        assert intents and len(intents) == worker.engine.counters.orders
        for msg_id, data in intents:
            order, _ = decode_intent(data)
            assert msg_id == order.client_order_id
        order, _ = decode_intent(intents[0][1])
        again = await js.publish(
            intent_subject("main", STRATEGY, order.symbol),
            encode_intent(order, STRATEGY),
            headers={"Nats-Msg-Id": order.client_order_id},
        )
        assert again.duplicate
        assert len(await _intents(js, STRATEGY)) == len(intents)


async def test_a_worker_waiting_for_bars_outlives_every_empty_fetch(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """An idle market is no error: fetches that time out (whichever TimeoutError nats-py
    raises) keep the worker consuming, and the next bars are decided."""
    async with _cluster(tmp_path, nats_server) as (settings, cfg, js, _nc):
        worker = build_worker(js, settings, cfg, STRATEGY, ALL, idle_fetch_sec=0.001)
        async with _running(worker):
            await eventually(lambda: worker.counters.idle_fetches >= 200, within=30)
            await _publish(js, _bars(2))  # decided only if no empty fetch stopped a consumer
            await eventually(lambda: worker.counters.bars == 2 * len(SYMBOLS), within=20)


async def test_two_strategies_on_one_account_never_share_an_order_id(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """Two strategies deciding the same bars for one account each get every intent stored: the
    strategy is part of the client_order_id, so neither is dropped as the other's duplicate
    (nor would the broker refuse one as a repeated id)."""
    routes = {"cluster.strategies": [f"{STRATEGY}:main", "Twin:main"]}
    async with _cluster(tmp_path, nats_server, **routes) as (settings, cfg, js, _nc):
        first = build_worker(js, settings, cfg, STRATEGY, ALL)
        twin = build_worker(js, settings, cfg, "Twin", ALL)
        async with _running(first), _running(twin):
            await _publish(js, _bars(80))
            await eventually(lambda: _drained(js, STRATEGY), within=20)
            await eventually(lambda: _drained(js, "Twin"), within=20)
        ours, theirs = await _intents(js, STRATEGY), await _intents(js, "Twin")
    assert ours and len(ours) == len(theirs) == first.engine.counters.orders
    assert {i for i, _ in ours}.isdisjoint(i for i, _ in theirs)


@pytest.mark.parametrize("kill_after_minutes", [40, 75])
async def test_a_worker_killed_mid_run_resumes_and_decides_like_one_that_never_stopped(
    tmp_path: Path, nats_server: LocalNats, kill_after_minutes: int
) -> None:
    """SIGKILL of a real `tradebot worker` mid-run, then a restart: every bar is acked, no
    client_order_id is published twice, and the intents equal an uninterrupted worker's on the
    same bars (its statistics warmed from the bars before the ack floor, its working orders
    restored from the intents it had sent)."""
    config = _config(tmp_path, nats_server)
    args = ("worker", "--config", str(config), "--strategy", STRATEGY)
    async with _cluster(tmp_path, nats_server) as (_settings, _cfg, js, _nc):
        proc = await spawn_tradebot(None, *args, **nats_server.env(worker_user(STRATEGY)))
        await eventually(lambda: _consumers_exist(js, STRATEGY), within=20)
        await _publish(js, _bars(kill_after_minutes))
        await eventually(lambda: _drained(js, STRATEGY), within=20)
        await _publish(js, _bars(40, first=kill_after_minutes))  # and kill while it decides
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        await _publish(js, _bars(40, first=kill_after_minutes + 40))
        proc = await spawn_tradebot(None, *args, **nats_server.env(worker_user(STRATEGY)))
        try:
            await eventually(lambda: _drained(js, STRATEGY), within=30)
        finally:
            _, err = await stop_tradebot(proc)
        assert proc.returncode == 0, err.decode()
        got = await _intents(js, STRATEGY)
    want = await _uninterrupted(tmp_path, _bars(kill_after_minutes + 80))
    assert len(want) >= 4
    assert len({msg_id for msg_id, _ in got}) == len(got)
    assert sorted(got) == sorted(want)


async def _uninterrupted(tmp_path: Path, bars: list[Bar]) -> list[tuple[str, bytes]]:
    """The intents of a worker that never stopped, on its own server (the same client_order_ids
    in one stream would be dropped as duplicates)."""
    server = LocalNats(tmp_path / "reference" / "nats")
    await server.start()
    try:
        async with _cluster(tmp_path / "reference", server) as (settings, cfg, js, _nc):
            await _publish(js, bars)
            async with _running(build_worker(js, settings, cfg, STRATEGY, ALL)):
                await eventually(lambda: _drained(js, STRATEGY), within=20)
            return await _intents(js, STRATEGY)
    finally:
        await server.stop()


class _Filler:
    """A stand-in order manager: each intent fills at once (at its limit, else its decision
    price) in an update on the EXEC stream whose time is the intent's."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self.answered = 0

    async def start(self) -> None:
        await self._js.subscribe(
            "intent.main.>", stream=INTENTS_STREAM, cb=self._fill, ordered_consumer=True
        )

    async def _fill(self, msg: Msg) -> None:
        order, strategy = decode_intent(msg.data)
        price, ts, coid = (
            order.limit_price or order.decision_price,
            order.created_ts,
            order.client_order_id,
        )
        fill = Fill(coid, order.symbol, order.side, order.qty, price, 0.0, ts)
        update = OrderUpdate(
            coid,
            order.symbol,
            OrderStatus.FILLED,
            order.qty,
            price,
            ts,
            fill,
            side=order.side,
            qty=order.qty,
        )
        await self._js.publish(
            exec_subject("main", strategy, order.symbol),
            encode_update(update),
            headers={"Nats-Msg-Id": update_msg_id(update)},
        )
        self.answered += 1


async def _minute_by_minute(
    js: JetStreamContext, worker: Worker, filler: _Filler, minutes: range
) -> None:
    """Each minute's bars decided, their intents filled and the fills in the worker's book
    before the next minute's bars: what the worker decides does not depend on timing."""
    before = filler.answered
    for minute in minutes:
        await _publish(js, _bars(1, first=minute))
        await eventually(lambda: _drained(js, STRATEGY), within=20)
        stored = (await js.stream_info(INTENTS_STREAM)).state.messages
        await eventually(functools.partial(_settled, worker, filler, stored, before))


def _settled(worker: Worker, filler: _Filler, stored: int, before: int) -> bool:
    """Every stored intent answered, and the worker has every answer since it started."""
    return filler.answered == stored and worker.counters.updates == stored - before


async def _filled_worker(
    js: JetStreamContext, settings: Settings, cfg: ClusterConfig, filler: _Filler, minutes: range
) -> Worker:
    worker = build_worker(js, settings, cfg, STRATEGY, ALL)
    async with _running(worker):
        await _minute_by_minute(js, worker, filler, minutes)
    return worker


async def test_a_worker_restarted_after_hours_of_bars_replays_only_its_span_and_decides_the_same(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """A worker restarted after 100 minutes of bars (its orders filled) replays only the bars of
    its replay span before its ack floor (lookback closes and the cooldown, doubled), not the
    whole stream, and publishes the same intents, entries and exits, as a worker that never
    stopped; its statistics agree with that worker's to rounding (the running sums were built
    from another first bar)."""
    more = {"strategy.signal_cooldown_sec": 300}  # the cooldown's part of the span matters
    async with _cluster(tmp_path, nats_server, **more) as (settings, cfg, js, _nc):
        filler = _Filler(js)
        await filler.start()
        await _filled_worker(js, settings, cfg, filler, range(100))
        restarted = await _filled_worker(js, settings, cfg, filler, range(100, 140))
        got = await _intents(js, STRATEGY)
        span_bars = replay_span(settings.strategy_params(), 60).total_sec / 60
    ref_dir = tmp_path / "reference"
    server = LocalNats(ref_dir / "nats")
    await server.start()
    try:
        async with _cluster(ref_dir, server, **more) as (settings, cfg, js, _nc):
            filler = _Filler(js)
            await filler.start()
            reference = await _filled_worker(js, settings, cfg, filler, range(140))
            want = await _intents(js, STRATEGY)
    finally:
        await server.stop()
    assert 0 < restarted.counters.replayed_bars <= (span_bars + 1) * len(SYMBOLS)
    after = [decode_intent(data)[0] for _, data in want]
    after = [o for o in after if o.created_ts > START + 100 * 60]
    assert {o.intent for o in after} == {Intent.ENTRY, Intent.EXIT}
    assert sorted(got) == sorted(want)
    for symbol in SYMBOLS:
        ours, theirs = restarted.engine.stats(symbol), reference.engine.stats(symbol)
        assert ours is not None and theirs is not None
        assert math.isclose(ours.z, theirs.z, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(ours.vol, theirs.vol, rel_tol=1e-9)


async def _consumers_exist(js: JetStreamContext, strategy: str) -> bool:
    try:
        for partition in ALL:
            await js.consumer_info(BARS_STREAM, consumer_name(strategy, partition))
    except NotFoundError:
        return False
    return True


async def test_a_restart_after_more_orders_than_the_book_keeps_leaves_none_working(
    tmp_path: Path, nats_server: LocalNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restarted worker rebuilds from every intent the stream holds: one whose final update
    it read is finished even when the book keeps fewer finished orders than there were (taken
    for still working, it would block its symbol's decisions for good)."""
    monkeypatch.setattr(book_module, "MAX_FINISHED", 3)
    async with _cluster(tmp_path, nats_server) as (settings, cfg, js, _nc):
        filler = _Filler(js)
        await filler.start()
        first = await _filled_worker(js, settings, cfg, filler, range(100))
        assert first.engine.counters.orders > 3 and not first.engine.book.working_orders()
        restarted = build_worker(js, settings, cfg, STRATEGY, ALL)
        await restarted.restore()
    assert restarted.engine.book.working_orders() == []


async def test_a_worker_remembers_a_day_of_sent_ids_not_every_one(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """Months of decisions do not pile up in memory: ids decided more than a day before the
    newest are forgotten, the recent ones are still never published twice."""
    async with _cluster(tmp_path, nats_server) as (_settings, _cfg, js, _nc):
        broker = IntentBroker(js, "main", STRATEGY, ManualClock(START))
        hour = 3_600.0
        orders = [_order(f"tb-{STRATEGY}-TA-{i}-e", START + i * hour) for i in range(72)]
        for order in orders:
            await broker.submit(order)
        assert broker.published == 72
        assert len(broker.sent) == 25  # the newest and the 24 hours before it
        await broker.submit(orders[-1])
        assert (broker.published, broker.resent) == (72, 1)


def _order(coid: str, decided_ts: float) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        symbol="TA",
        side=Side.BUY,
        qty=1,
        type=OrderType.LIMIT,
        tif=TimeInForce.IOC,
        limit_price=100.0,
        decision_price=100.0,
        intent=Intent.ENTRY,
        created_ts=decided_ts,
    )


async def test_a_worker_leaves_logging_its_fills_to_the_order_manager(
    tmp_path: Path, nats_server: LocalNats, caplog: pytest.LogCaptureFixture
) -> None:
    """The order manager logs each fill it gets from the broker; the worker's book only mirrors
    it, so the worker logs it at DEBUG: `tradebot cluster` shows every fill once, not twice."""
    caplog.set_level(logging.DEBUG, logger="strategy.engine")
    async with _cluster(tmp_path, nats_server) as (settings, cfg, js, _nc):
        filler = _Filler(js)
        await filler.start()
        worker = await _filled_worker(js, settings, cfg, filler, range(60))
    fills = [r for r in caplog.records if r.getMessage().startswith("fill ")]
    assert worker.engine.counters.fills > 0
    assert len(fills) == worker.engine.counters.fills
    assert {r.levelno for r in fills} == {logging.DEBUG}


class _Crash(Exception):
    """The worker process dying at a chosen point."""


async def _unacked_partitions(js: JetStreamContext, strategy: str) -> list[int]:
    found = []
    for partition in ALL:
        info = await js.consumer_info(BARS_STREAM, consumer_name(strategy, partition))
        if info.num_ack_pending:
            found.append(partition)
    return found


async def test_a_batch_redelivered_after_a_crash_is_neither_lost_nor_applied_twice(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """A worker dies after a minute's batches produced intents (stored) and before it acked
    them: the restarted worker is given those batches again and takes every bar of them once
    (none dropped as stale; its statistics agree with a worker's that never stopped), publishes
    none of their intents again, and in the end the intents are the uninterrupted worker's."""
    minutes = 60
    async with _cluster(tmp_path, nats_server) as (settings, cfg, js, _nc):
        own = await nats_server.connect()
        dying = build_worker(own.jetstream(), settings, cfg, STRATEGY, ALL)
        broker = dying.engine.broker
        assert isinstance(broker, IntentBroker)
        settled = broker.settled

        async def die_once_the_intents_are_stored() -> None:
            await settled()
            raise _Crash

        broker.settled = die_once_the_intents_are_stored  # type: ignore[method-assign]
        await dying.restore()
        task = asyncio.create_task(dying.run())
        minute = 0
        while not task.done():  # a minute at a time until one produces intents
            assert minute < minutes, "no minute produced an intent"
            await _publish(js, _bars(1, first=minute))
            minute += 1
            await eventually(lambda: task.done() or _drained(js, STRATEGY), within=20)
        with pytest.raises(ExceptionGroup) as died:
            await task
        assert died.group_contains(_Crash)
        await own.close()
        crash_intents = await _intents(js, STRATEGY)
        unacked = await _unacked_partitions(js, STRATEGY)
        assert crash_intents and unacked
        redelivered = [s for s in SYMBOLS if partition_of(s, PARTITIONS) in unacked]

        restarted = build_worker(js, settings, cfg, STRATEGY, ALL)
        async with _running(restarted):
            await _publish(js, _bars(minutes - minute, first=minute))
            await eventually(lambda: _drained(js, STRATEGY), within=30)
        got = await _intents(js, STRATEGY)
        again = restarted.engine.broker
        assert isinstance(again, IntentBroker)
    ref_dir = tmp_path / "reference"
    server = LocalNats(ref_dir / "nats")
    await server.start()
    try:
        async with _cluster(ref_dir, server) as (settings, cfg, ref_js, _nc):
            await _publish(ref_js, _bars(minutes))
            reference = build_worker(ref_js, settings, cfg, STRATEGY, ALL)
            async with _running(reference):
                await eventually(lambda: _drained(ref_js, STRATEGY), within=30)
            want = await _intents(ref_js, STRATEGY)
    finally:
        await server.stop()
    assert sorted(got) == sorted(want)
    assert again.published == len(want) - len(crash_intents)  # none of them again
    # the unacked batches' bars decided by the restarted worker, each once, then the rest
    assert restarted.counters.bars == len(redelivered) + (minutes - minute) * len(SYMBOLS)
    assert restarted.counters.stale == 0
    for symbol in SYMBOLS:
        ours, theirs = restarted.engine.stats(symbol), reference.engine.stats(symbol)
        assert ours is not None and theirs is not None
        assert math.isclose(ours.z, theirs.z, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(ours.vol, theirs.vol, rel_tol=1e-9)


def _filled(order: OrderRequest) -> OrderUpdate:
    price = order.limit_price or order.decision_price
    fill = Fill(order.client_order_id, order.symbol, order.side, order.qty, price, 0.0, 1.0)
    return OrderUpdate(
        order.client_order_id,
        order.symbol,
        OrderStatus.FILLED,
        order.qty,
        price,
        order.created_ts,
        fill,
        side=order.side,
        qty=order.qty,
    )


async def test_a_round_of_fills_in_one_exec_message_reaches_the_book_live_and_at_a_restart(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """The order manager publishes a round of updates of one strategy as one message
    (ExecPublisher: exec.{account}.{strategy}._batch): the worker applies every update in it,
    and a worker restarted reads them from the stored message the same way."""
    async with _cluster(tmp_path, nats_server) as (settings, cfg, js, _nc):
        worker = build_worker(js, settings, cfg, STRATEGY, ALL)
        async with _running(worker):
            await _publish(js, _bars(60))
            await eventually(lambda: _drained(js, STRATEGY), within=20)
            orders = [decode_intent(data)[0] for _, data in await _intents(js, STRATEGY)]
            assert len(orders) >= 2
            publisher = ExecPublisher(js, "main")
            publishing = asyncio.create_task(publisher.run())
            for order in orders:
                publisher.put(STRATEGY, _filled(order))
            await publisher.drained()
            publishing.cancel()
            assert (await js.stream_info(EXEC_STREAM)).state.messages < len(orders)
            await eventually(lambda: worker.counters.updates == len(orders))
            held = {s for s in SYMBOLS if worker.engine.book.position(s) is not None}
        assert held == {order.symbol for order in orders}
        restarted = build_worker(js, settings, cfg, STRATEGY, ALL)
        async with _running(restarted):
            assert {s for s in SYMBOLS if restarted.engine.book.position(s) is not None} == held
