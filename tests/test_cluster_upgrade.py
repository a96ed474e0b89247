"""Upgrading a running cluster: a NATS store made by an earlier version (its durable consumers,
its old-format messages) under today's roles, on a real nats-server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bot.oms_cli import start_oms
from ops.cluster.codec import encode_intent
from ops.cluster.config import cluster_config
from ops.cluster.credentials import GATEWAY, oms_user, worker_user
from ops.cluster.incident_feed import follow_incidents
from ops.cluster.incidents import IncidentEvent
from ops.cluster.ingest import BarPublisher, ingest
from ops.cluster.oms import INTENT_BATCH
from ops.cluster.server import LocalNats
from ops.cluster.streams import ensure_streams
from ops.cluster.subjects import (
    BARS_STREAM,
    GATEWAY_INCIDENTS,
    INCIDENTS_STREAM,
    INTENTS_STREAM,
    bar_subject,
    consumer_name,
    incident_subject,
    intent_filter,
    intent_subject,
    oms_consumer,
    partition_of,
)
from ops.cluster.worker_setup import build_worker, upgrade_bar_consumers
from ops.config.settings import load_settings
from strategy.clock import ManualClock
from strategy.types import Bar, Intent, OrderRequest, OrderType, Side, TimeInForce
from strategy.venues.bars import synthetic_bars
from strategy.venues.sim_feed import SimFeed
from tests.support import START, eventually, spawn_tradebot, stop_tradebot, write_config

SYMBOLS = [f"T{chr(65 + i)}" for i in range(16)]
PARTITIONS = 4
ALL = tuple(range(PARTITIONS))
STRATEGY = "MeanReversionV1"
BARS = list(synthetic_bars(SYMBOLS, seed=7, start_ts=START, count=6))
OLD, NEW = BARS[: 3 * len(SYMBOLS)], BARS[3 * len(SYMBOLS) :]  # minutes 0-2, 3-5


def _old_filter(partition: int) -> str:
    return f"md.bar.p{partition:02d}.>"


async def _old_worker_store(js: JetStreamContext, ack_wait_sec: float) -> int:
    """What the version before bar batches left: a durable per partition filtering the
    single-bar subjects, the old ingestor's bars (one message each), the first minute's
    acknowledged by the old worker. The number of old bars not acknowledged."""
    for partition in range(PARTITIONS):
        name = consumer_name(STRATEGY, partition)
        await js.add_consumer(
            BARS_STREAM,
            ConsumerConfig(
                name=name,
                durable_name=name,
                filter_subject=_old_filter(partition),
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=ack_wait_sec,
                max_ack_pending=-1,
            ),
        )
    for b in OLD:
        await js.publish(
            f"{bar_subject(partition_of(b.symbol, PARTITIONS))}.{b.symbol}",
            json.dumps([b.symbol, b.ts, b.open, b.high, b.low, b.close, b.volume]).encode(),
            headers={"Nats-Msg-Id": f"{b.symbol}:{int(b.ts)}"},
        )
    acked = 0
    for partition in range(PARTITIONS):
        first_minute = [b for b in OLD[: len(SYMBOLS)] if _partition(b) == partition]
        if not first_minute:
            continue
        sub = await js.pull_subscribe_bind(consumer_name(STRATEGY, partition), BARS_STREAM)
        for msg in await sub.fetch(len(first_minute), timeout=5):
            await msg.ack_sync()
            acked += 1
        await sub.unsubscribe()
    return len(OLD) - acked


def _partition(b: Bar) -> int:
    return partition_of(b.symbol, PARTITIONS)


async def _caught_up(js: JetStreamContext) -> bool:
    """Every partition's durable has acknowledged its newest batch."""
    for partition in range(PARTITIONS):
        newest = await js.get_last_msg(BARS_STREAM, bar_subject(partition))
        info = await js.consumer_info(BARS_STREAM, consumer_name(STRATEGY, partition))
        if info.ack_floor is None or info.ack_floor.stream_seq < (newest.seq or 0):
            return False
    return True


async def test_a_worker_upgraded_over_an_old_store_recreates_its_consumers_and_decides_batches(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """Durables made by the version before bar batches (filter md.bar.p{PP}.>) and that
    version's single-bar messages still stored: today's worker (its own NATS user) says once per
    consumer that it recreated it and where it resumes, once how many old messages it leaves,
    and decides every new batch. Before, it bound the old durables as they were: it got none of
    the batches, and logged each old bar as malformed."""
    config = write_config(
        tmp_path,
        **{
            "cluster.nats_url": nats_server.url,
            "cluster.partitions": PARTITIONS,
            "cluster.ack_wait_sec": 1.0,
            "strategy.symbols": SYMBOLS,
        },
    )
    cfg = cluster_config(load_settings(config))
    nc = await nats_server.connect()
    js = nc.jetstream()
    proc = None
    try:
        await ensure_streams(js, cfg)
        left = await _old_worker_store(js, cfg.ack_wait_sec)
        await ingest(SimFeed(NEW, ManualClock(START)), BarPublisher(js, PARTITIONS))
        proc = await spawn_tradebot(
            None,
            "worker",
            "--strategy",
            STRATEGY,
            "--config",
            str(config),
            **nats_server.env(worker_user(STRATEGY)),
        )
        await eventually(lambda: _caught_up(js), within=60)
    finally:
        _out, err = await stop_tradebot(proc) if proc is not None else (b"", b"")
        await nc.close()
    log = err.decode()
    assert proc.returncode == 0, log
    for partition in range(PARTITIONS):
        old, new = _old_filter(partition), bar_subject(partition)
        said = [line for line in log.splitlines() if "recreated" in line and new in line]
        assert len(said) == 1, log
        assert f"filter_subject {old} -> {new}" in said[0]
        assert "acknowledged floor" in said[0]  # where it resumes
    summary = [line for line in log.splitlines() if "one-bar-per-message" in line]
    assert len(summary) == 1 and f" {left} bars of the earlier" in summary[0], log
    assert "not a bar batch" not in log  # no line per old message
    stopped = re.search(r"worker \S+ stopped: (\d+) bars", log)
    assert stopped is not None and int(stopped.group(1)) == len(NEW), log


async def _old_durable(
    js: JetStreamContext, stream: str, name: str, subject: str, ack_wait_sec: float, acked: int
) -> None:
    """A durable as an earlier version created it (server defaults beyond these), its first
    `acked` messages acknowledged by that version's role."""
    config = ConsumerConfig(
        name=name,
        durable_name=name,
        filter_subject=subject,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_sec,
    )
    await js.add_consumer(stream, config)
    sub = await js.pull_subscribe_bind(name, stream)
    for msg in await sub.fetch(acked, timeout=5):
        await msg.ack_sync()
    await sub.unsubscribe()


def _intent(coid: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        symbol="SPY",
        side=Side.BUY,
        qty=1,
        type=OrderType.LIMIT,
        tif=TimeInForce.IOC,
        limit_price=500.0,
        decision_price=500.0,
        intent=Intent.ENTRY,
        created_ts=time.time(),
    )


async def _publish_intent(js: JetStreamContext, coid: str) -> None:
    await js.publish(
        intent_subject("main", STRATEGY, "SPY"),
        encode_intent(_intent(coid), STRATEGY),
        headers={"Nats-Msg-Id": coid},
    )


async def test_an_order_manager_recreates_an_intents_consumer_made_before_its_batch_limit(
    tmp_path: Path, nats_server: LocalNats, caplog: pytest.LogCaptureFixture
) -> None:
    """The intents durable of a version before the order manager took a fetch at once had the
    server's max_ack_pending (1000): today's order manager recreates it with INTENT_BATCH, says
    so once, and resumes after what the old one acknowledged. Before, it bound the old one."""
    config = write_config(
        tmp_path, **{"cluster.nats_url": nats_server.url, "cluster.ack_wait_sec": 1}
    )
    cfg = cluster_config(load_settings(config))
    nc = await nats_server.connect()
    js = nc.jetstream()
    running = None
    try:
        await ensure_streams(js, cfg)
        await _publish_intent(js, "tb-old-1")
        name = oms_consumer("main")
        await _old_durable(js, INTENTS_STREAM, name, intent_filter("main"), 1.0, acked=1)
        caplog.set_level(logging.INFO, "ops.cluster.durables")
        running = await start_oms("main", config, nats_server.env(oms_user("main")))
        await _publish_intent(js, "tb-new-1")
        await eventually(lambda: running is not None and running.oms.taken == 1, within=10)
        await running.stop()
        running = await start_oms("main", config, nats_server.env(oms_user("main")))
        info = await js.consumer_info(INTENTS_STREAM, name)  # left alone, as wanted now
    finally:
        if running is not None:
            await running.stop()
        await nc.close()
    assert info.config.max_ack_pending == INTENT_BATCH
    said = [r.getMessage() for r in caplog.records if r.name == "ops.cluster.durables"]
    assert len(said) == 1 and f"max_ack_pending 1000 -> {INTENT_BATCH}" in said[0]
    assert "after stream sequence 1" in said[0]


async def test_the_gateway_recreates_its_incidents_consumer_when_its_ack_wait_changed(
    tmp_path: Path, nats_server: LocalNats, caplog: pytest.LogCaptureFixture
) -> None:
    """cluster.ack_wait_sec changed since the gateway's durable was made: the gateway (its own
    NATS user) recreates it with the new one, and gets the events after the acknowledged one."""
    config = write_config(
        tmp_path, **{"cluster.nats_url": nats_server.url, "cluster.ack_wait_sec": 2}
    )
    cfg = cluster_config(load_settings(config))
    admin = await nats_server.connect()
    js = admin.jetstream()
    events = [
        IncidentEvent(id=f"e{i}", kind="notice", role="ingest", name="a", account=None)
        for i in range(2)
    ]
    subject = incident_subject("ingest", "ingest", "a")
    gateway = await nats_server.connect(GATEWAY)
    got: list[str] = []

    async def handle(event: IncidentEvent) -> None:
        got.append(event.id)

    feed = None
    try:
        await ensure_streams(js, cfg)
        await js.publish(subject, events[0].encode(), headers={"Nats-Msg-Id": events[0].id})
        await _old_durable(js, INCIDENTS_STREAM, GATEWAY_INCIDENTS, "incident.>", 30.0, acked=1)
        await js.publish(subject, events[1].encode(), headers={"Nats-Msg-Id": events[1].id})
        caplog.set_level(logging.INFO, "ops.cluster.durables")
        feed = asyncio.create_task(follow_incidents(gateway, cfg, handle))
        await eventually(lambda: got)
        info = await js.consumer_info(INCIDENTS_STREAM, GATEWAY_INCIDENTS)
    finally:
        if feed is not None:
            feed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feed
        await gateway.close()
        await admin.close()
    assert got == ["e1"]
    assert info.config.ack_wait == 2.0
    said = [r.getMessage() for r in caplog.records if r.name == "ops.cluster.durables"]
    assert len(said) == 1 and "ack_wait 30.0 -> 2.0" in said[0]


async def test_a_worker_restarted_after_the_upgrade_replays_past_the_old_single_bar_messages(
    tmp_path: Path, nats_server: LocalNats, caplog: pytest.LogCaptureFixture
) -> None:
    """Old single-bar messages stay in MD_BARS for days after the upgrade: a worker restarted
    then looks for where its replay starts among them too, and restores. Before, reading one
    of them there stopped the restore (a bar batch it could not decode)."""
    config = write_config(
        tmp_path,
        **{
            "cluster.nats_url": nats_server.url,
            "cluster.partitions": PARTITIONS,
            "cluster.ack_wait_sec": 1.0,
            "strategy.symbols": SYMBOLS,
        },
    )
    settings = load_settings(config)
    cfg = cluster_config(settings)
    admin = await nats_server.connect()
    js = admin.jetstream()
    nc = await nats_server.connect(worker_user(STRATEGY))
    own = nc.jetstream()
    try:
        await ensure_streams(js, cfg)
        await _old_worker_store(js, cfg.ack_wait_sec)
        await ingest(SimFeed(NEW, ManualClock(START)), BarPublisher(js, PARTITIONS))
        caplog.set_level(logging.INFO, "ops.cluster.durables")
        await upgrade_bar_consumers(own, cfg, STRATEGY, ALL)
        first = build_worker(own, settings, cfg, STRATEGY, ALL)
        await first.restore()
        run = asyncio.create_task(first.run())
        await eventually(lambda: _caught_up(js), within=10)
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
        await upgrade_bar_consumers(own, cfg, STRATEGY, ALL)  # as wanted now: left alone
        again = build_worker(own, settings, cfg, STRATEGY, ALL)
        await again.restore()
    finally:
        await nc.close()
        await admin.close()
    assert first.counters.bars == len(NEW)
    assert again.counters.replayed_bars == len(NEW)
    assert again.counters.malformed == 0
    recreated = [r for r in caplog.records if r.name == "ops.cluster.durables"]
    assert len(recreated) == PARTITIONS  # at the upgrade only


async def test_an_order_manager_takes_its_marks_from_the_batches_over_old_single_bar_messages(
    tmp_path: Path, nats_server: LocalNats, caplog: pytest.LogCaptureFixture
) -> None:
    """An earlier version's single-bar messages still stored: the order manager's marks start
    with each bar subject's newest message and never meet them. Before, it read the newest of
    each old symbol subject and logged one "skipped" warning per symbol."""
    config = write_config(
        tmp_path,
        **{
            "cluster.nats_url": nats_server.url,
            "cluster.partitions": PARTITIONS,
            "strategy.symbols": SYMBOLS,
        },
    )
    cfg = cluster_config(load_settings(config))
    nc = await nats_server.connect()
    js = nc.jetstream()
    running = None
    try:
        await ensure_streams(js, cfg)
        await _old_worker_store(js, cfg.ack_wait_sec)
        caplog.set_level(logging.INFO, "ops.cluster.marks")
        running = await start_oms("main", config, nats_server.env(oms_user("main")))
        await ingest(SimFeed(NEW, ManualClock(START)), BarPublisher(js, PARTITIONS))
        last = NEW[-1]
        await eventually(
            lambda: (
                running is not None
                and running.service.book.last_price(last.symbol) == (last.close, last.ts + 60)
            )
        )
    finally:
        if running is not None:
            await running.stop()
        await nc.close()
    assert not [
        r for r in caplog.records if r.name == "ops.cluster.marks" and "skipped" in r.getMessage()
    ]
