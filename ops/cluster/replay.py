"""Reading a stream from its start: how a restarted worker learns what it had decided and sent."""

from __future__ import annotations

from collections.abc import AsyncIterator

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

FETCH = 1000


def stream_seq(msg: Msg) -> int:
    return int(msg.metadata.sequence.stream)


async def read_stream(
    js: JetStreamContext, stream: str, subjects: list[str], upto: int | None = None
) -> AsyncIterator[Msg]:
    """Every message on `subjects` stored when this starts, oldest first, up to stream sequence
    `upto` (inclusive); through an ephemeral consumer without acks, deleted at the end."""
    sub = await js.pull_subscribe(
        "",
        stream=stream,
        config=ConsumerConfig(
            filter_subjects=subjects, ack_policy=AckPolicy.NONE, inactive_threshold=60.0
        ),
    )
    info = await sub.consumer_info()
    remaining = info.num_pending or 0
    try:
        while remaining > 0:
            for msg in await sub.fetch(min(remaining, FETCH), timeout=5.0):
                if upto is not None and stream_seq(msg) > upto:
                    return
                remaining -= 1
                yield msg
    finally:
        await sub.unsubscribe()
        await js.delete_consumer(stream, info.name)
