"""Upgrading a running cluster: a NATS store made by an earlier version (its durable consumers,
its old-format messages) under today's roles, on a real nats-server."""

from __future__ import annotations

import json
import re
from pathlib import Path

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from ops.cluster.config import cluster_config
from ops.cluster.credentials import worker_user
from ops.cluster.ingest import BarPublisher, ingest
from ops.cluster.server import LocalNats
from ops.cluster.streams import ensure_streams
from ops.cluster.subjects import BARS_STREAM, bar_subject, consumer_name, partition_of
from ops.config.settings import load_settings
from strategy.clock import ManualClock
from strategy.types import Bar
from strategy.venues.bars import synthetic_bars
from strategy.venues.sim_feed import SimFeed
from tests.support import START, eventually, spawn_tradebot, stop_tradebot, write_config

SYMBOLS = [f"T{chr(65 + i)}" for i in range(16)]
PARTITIONS = 4
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
