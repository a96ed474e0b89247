"""One fetch of a JetStream pull subscription that never eats a cancellation.

nats-py waits with `asyncio.wait_for`, which on Python 3.11 can answer a task cancelled just as
its fetch timed out with TimeoutError instead of CancelledError. A consume loop that takes a
timeout as "no message yet, fetch again" would then never end: stopping a worker or an order
manager hung. The cancellation is still pending on the task (`cancelling()`), so it is raised
here.
"""

from __future__ import annotations

import asyncio

from nats.aio.msg import Msg
from nats.js import JetStreamContext


async def fetch_or_nothing(
    sub: JetStreamContext.PullSubscription, batch: int, wait_sec: float
) -> list[Msg]:
    """Up to `batch` messages, or none when none came within `wait_sec`."""
    try:
        return await sub.fetch(batch, timeout=wait_sec)
    except TimeoutError:  # nats-py raises its own subclass or asyncio's, by the path
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError from None
        return []
