"""The order manager's ExecPublisher against a real nats-server: a round of updates is sent at
once, consecutive ones of a strategy token in one message, and its PubAcks awaited together;
a message the server did not store is published again, alone, until it is stored, and only
then is the outbox drained."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from nats.js import JetStreamContext
from nats.js.api import StreamConfig

import ops.cluster.exec_publisher as exec_publisher
from ops.cluster.codec import decode_updates
from ops.cluster.exec_publisher import ExecPublisher
from ops.cluster.replay import read_stream
from ops.cluster.server import LocalNats
from ops.cluster.subjects import KILL_ORDERS, exec_subject
from strategy.types import Intent, OrderRequest, OrderType, OrderUpdate, Side, TimeInForce
from tests.support import eventually

ACCOUNT = "main"
STRATEGY = "MeanReversionV1"


def _rejected(symbol: str, coid: str = "") -> OrderUpdate:
    order = OrderRequest(
        client_order_id=coid or f"tb-{symbol}-1",
        symbol=symbol,
        side=Side.BUY,
        qty=1,
        type=OrderType.MARKET,
        tif=TimeInForce.DAY,
        limit_price=None,
        decision_price=1.0,
        intent=Intent.ENTRY,
        created_ts=1.0,
    )
    return OrderUpdate.rejected(order, "test", 1.0)


async def _stored(js: JetStreamContext, stream: str) -> int:
    return (await js.stream_info(stream)).state.messages


async def test_an_update_without_its_puback_is_published_again_before_the_outbox_drains(
    nats_server: LocalNats,
) -> None:
    """Two messages in one round (a strategy's update, then the kill's): A's subject has a
    stream, B's none yet (no PubAck, an error).
    A is counted published at once; B is sent again until a stream takes it, stored once, and
    `drained` returns only after that."""
    nc = await nats_server.connect()
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="EXA", subjects=[exec_subject(ACCOUNT, STRATEGY, "A")]))
    publisher = ExecPublisher(js, ACCOUNT)
    running = asyncio.create_task(publisher.run())
    try:
        publisher.put(STRATEGY, _rejected("A"))
        publisher.put(KILL_ORDERS, _rejected("B"))
        await eventually(lambda: publisher.published == 1)
        drained = asyncio.create_task(publisher.drained())
        await asyncio.sleep(0)
        assert not drained.done()  # B is not stored anywhere yet
        await js.add_stream(
            StreamConfig(name="EXB", subjects=[exec_subject(ACCOUNT, KILL_ORDERS, "B")])
        )
        await asyncio.wait_for(drained, 10)
        assert publisher.published == 2
        assert (await _stored(js, "EXA"), await _stored(js, "EXB")) == (1, 1)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await nc.close()


async def _round(js: JetStreamContext, queued: list[tuple[str, OrderUpdate]]) -> ExecPublisher:
    publisher = ExecPublisher(js, ACCOUNT)
    running = asyncio.create_task(publisher.run())
    try:
        for strategy, update in queued:
            publisher.put(strategy, update)
        await asyncio.wait_for(publisher.drained(), 10)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    return publisher


async def test_a_round_goes_out_as_few_messages_in_its_order_and_once_when_published_again(
    nats_server: LocalNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Consecutive updates of one token share a message (at most BATCH_MAX, here 2), a lone
    one goes out alone on its symbol's subject; read back in stream order they are the round,
    each once. The same round published again (a restarted order manager) stores nothing."""
    monkeypatch.setattr(exec_publisher, "BATCH_MAX", 2)
    nc = await nats_server.connect()
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="EX", subjects=[f"exec.{ACCOUNT}.>"]))
    tokens = [STRATEGY, STRATEGY, STRATEGY, KILL_ORDERS, STRATEGY, STRATEGY]
    queued = [(t, _rejected(f"S{i}", f"tb-{i}")) for i, t in enumerate(tokens)]
    try:
        assert (await _round(js, queued)).published == len(queued)
        assert (await _round(js, queued)).published == len(queued)  # stored once: de-duplicated
        subjects, read = [], []
        async for msg in read_stream(js, "EX", [f"exec.{ACCOUNT}.>"]):
            subjects.append(msg.subject)
            read.extend((msg.subject.split(".")[2], u) for u in decode_updates(msg.data))
    finally:
        await nc.close()
    batch = f"exec.{ACCOUNT}.{STRATEGY}._batch"
    assert subjects == [batch, f"exec.{ACCOUNT}.{STRATEGY}.S2", f"exec.{ACCOUNT}._kill.S3", batch]
    assert read == queued
