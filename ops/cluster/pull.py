"""One fetch of a JetStream pull subscription that never eats a cancellation.

A consume loop takes a timeout as "no message yet, fetch again"; a cancellation that came back
as that timeout (see ops.cluster.cancelling) is raised instead, so stopping a worker or an order
manager does not hang. A server that is away (restarting, JetStream unavailable) is no message
either, after a pause: the loop lives on and fetches again once it is back (it ended the order
manager's intake for good at the first outage).
"""

from __future__ import annotations

import asyncio
import logging

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from ops.cluster.cancelling import raise_if_cancelling

log = logging.getLogger(__name__)


async def fetch_or_nothing(
    sub: JetStreamContext.PullSubscription, batch: int, wait_sec: float
) -> list[Msg]:
    """Up to `batch` messages, or none when none came within `wait_sec`."""
    try:
        return await sub.fetch(batch, timeout=wait_sec)
    except TimeoutError:  # nats-py raises its own subclass or asyncio's, by the path
        raise_if_cancelling()
        return []
    except NatsError as exc:
        log.info("fetch failed (%r): again in %gs", exc, wait_sec)
        await asyncio.sleep(wait_sec)
        return []
