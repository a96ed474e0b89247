"""Transient broker failures at start-up are retried with backoff, and said, before giving up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from strategy.venue import BrokerUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


async def retry_transient(
    call: Callable[[], Awaitable[T]], what: str, attempts: int, first_wait: float
) -> T:
    """`call` again after a timeout, 429 or 5xx, waiting `first_wait` and doubling; after
    `attempts` tries the last error is raised. Any other error is raised at once."""
    wait = first_wait
    for attempt in range(1, attempts):
        try:
            return await call()
        except BrokerUnavailable as exc:
            log.warning(
                "%s unreachable (%s); retry %d/%d in %.1fs", what, exc, attempt + 1, attempts, wait
            )
        await asyncio.sleep(wait)
        wait *= 2
    return await call()
