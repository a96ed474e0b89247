"""One fetch of a JetStream pull subscription that never eats a cancellation.

A consume loop takes a timeout as "no message yet, fetch again"; a cancellation that came back
as that timeout (see ops.cluster.cancelling) is raised instead, so stopping a worker or an order
manager does not hang.
"""

from __future__ import annotations

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from ops.cluster.cancelling import raise_if_cancelling


async def fetch_or_nothing(
    sub: JetStreamContext.PullSubscription, batch: int, wait_sec: float
) -> list[Msg]:
    """Up to `batch` messages, or none when none came within `wait_sec`."""
    try:
        return await sub.fetch(batch, timeout=wait_sec)
    except TimeoutError:  # nats-py raises its own subclass or asyncio's, by the path
        raise_if_cancelling()
        return []
