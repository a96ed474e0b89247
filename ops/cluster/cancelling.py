"""A cancellation that came back as a timeout is raised again.

nats-py waits with `asyncio.wait_for`, which on Python 3.11 can answer a task cancelled just as
the wait timed out with TimeoutError instead of CancelledError. The cancellation stays pending on
the task (`cancelling()`) but nothing raises it again, so a loop that takes a timeout as "try
again" would run on after a stop and the stop would hang (seen: a worker's idle fetch, a lease's
renewal). Every such loop asks here before it tries again.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelling() -> None:
    """Raise CancelledError if this task was asked to stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
