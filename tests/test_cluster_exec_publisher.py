"""The order manager's ExecPublisher against a real nats-server: a round of updates is sent at
once and its PubAcks awaited together; one the server did not store is published again, alone,
until it is stored, and only then is the outbox drained."""

from __future__ import annotations

import asyncio
import contextlib

from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from ops.cluster.exec_publisher import ExecPublisher
from ops.cluster.server import LocalNats
from ops.cluster.subjects import exec_subject
from strategy.types import Intent, OrderRequest, OrderType, OrderUpdate, Side, TimeInForce
from tests.support import eventually

ACCOUNT = "main"
STRATEGY = "MeanReversionV1"


def _rejected(symbol: str) -> OrderUpdate:
    order = OrderRequest(
        client_order_id=f"tb-{symbol}-1",
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
    """Two updates in one round: A's subject has a stream, B's none yet (no PubAck, an error).
    A is counted published at once; B is sent again until a stream takes it, stored once, and
    `drained` returns only after that."""
    nc = await nats_server.connect()
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="EXA", subjects=[exec_subject(ACCOUNT, STRATEGY, "A")]))
    publisher = ExecPublisher(js, ACCOUNT)
    running = asyncio.create_task(publisher.run())
    try:
        publisher.put(STRATEGY, _rejected("A"))
        publisher.put(STRATEGY, _rejected("B"))
        await eventually(lambda: publisher.published == 1)
        drained = asyncio.create_task(publisher.drained())
        await asyncio.sleep(0)
        assert not drained.done()  # B is not stored anywhere yet
        await js.add_stream(
            StreamConfig(name="EXB", subjects=[exec_subject(ACCOUNT, STRATEGY, "B")])
        )
        await asyncio.wait_for(drained, 10)
        assert publisher.published == 2
        assert (await _stored(js, "EXA"), await _stored(js, "EXB")) == (1, 1)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await nc.close()
