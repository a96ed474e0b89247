"""The JetStream layer every role stands on, against a real nats-server on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.cluster.codec import CodecError, decode_bars
from ops.cluster.config import cluster_config
from ops.cluster.ingest import batches
from ops.cluster.server import LocalNats
from ops.cluster.streams import ensure_streams
from ops.cluster.subjects import BARS_STREAM, bar_subject, partition_of
from ops.config.settings import ConfigError, load_settings
from strategy.types import Bar
from tests.support import write_config


def _cfg(tmp_path: Path, **values: object):
    return cluster_config(load_settings(write_config(tmp_path, **values)))


def test_partitions_are_stable_and_spread() -> None:
    """crc32, not hash(): every process computes the same partition for a symbol."""
    assert (partition_of("SPY", 16), partition_of("AAPL", 16)) == (15, 12)
    assert bar_subject(partition_of("SPY", 16)) == "md.bar.p15"
    used = {partition_of(f"S{i:04d}", 16) for i in range(1000)}
    assert used == set(range(16))


def test_cluster_config_refuses_a_strategy_routed_nowhere(tmp_path: Path) -> None:
    """A strategy whose account is not configured is a config error, not a silent drop."""
    with pytest.raises(ConfigError, match=r"names an account not in cluster\.accounts"):
        _cfg(tmp_path, **{"cluster.strategies": ["MeanReversionV1:other"]})
    with pytest.raises(ConfigError, match="may hold only"):
        _cfg(tmp_path, **{"cluster.accounts": ["main.x"]})


async def test_a_duplicate_bar_publish_is_dropped_by_the_server(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """Two ingestors publishing the same batch (same message id) store it once."""
    cfg = _cfg(tmp_path)
    nc = await nats_server.connect()
    js = nc.jetstream()
    await ensure_streams(js, cfg)
    bars = [Bar(s, 1_700_000_000.0, 1, 2, 0.5, 1.5, 100) for s in ("SPY", "QQQ", "IWM")]
    [batch] = batches(bars, 1)
    first = await js.publish(batch.subject, batch.data, headers=batch.headers)
    again = await js.publish(batch.subject, batch.data, headers=batch.headers)
    assert not first.duplicate and again.duplicate
    info = await js.stream_info(BARS_STREAM)
    assert info.state.messages == 1
    await nc.close()


async def test_a_server_crash_loses_nothing_acknowledged(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """With the shipped config every acknowledged publish survives a SIGKILL of the server
    (what it wrote is in the page cache; its fsync interval is for a power cut)."""
    cfg = _cfg(tmp_path)
    nc = await nats_server.connect(max_reconnect_attempts=-1, reconnect_time_wait=0.05)
    js = nc.jetstream()
    await ensure_streams(js, cfg)
    bars = [Bar("QQQ", 1_700_000_000.0 + 60 * i, 1, 2, 0.5, 1.5, 100) for i in range(200)]
    for bar in bars:
        for batch in batches([bar], cfg.partitions):
            await js.publish(batch.subject, batch.data, headers=batch.headers)
    await nc.close()
    await nats_server.kill()
    await nats_server.start()
    nc = await nats_server.connect()
    js = nc.jetstream()
    sub = await js.pull_subscribe("md.bar.>", stream=BARS_STREAM)
    got = []
    while len(got) < len(bars):
        for msg in await sub.fetch(100, timeout=5):
            got.extend(decode_bars(msg.data))
            await msg.ack()
    assert got == bars
    await nc.close()


def test_a_body_that_is_not_a_bar_batch_is_refused_with_the_reason() -> None:
    """A worker drops (and counts) a message that is not a batch; the error says what it was."""
    bars = [Bar(s, 1_700_000_000.0, 1, 2, 0.5, 1.5, 100) for s in ("SPY", "QQQ")]
    [batch] = batches(bars, 1)
    assert decode_bars(batch.data) == bars
    for body, reason in (
        (b"", "incomplete"),
        (b'{"a": 1}', "ExtraData"),
        (batch.data + b"x", "ExtraData"),
        (batches([bars[0]], 1)[0].data[:-3], "incomplete"),
    ):
        with pytest.raises(CodecError, match=reason):
            decode_bars(body)
