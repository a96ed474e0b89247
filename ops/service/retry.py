"""Transient broker failures at start-up are retried with backoff, and said, before giving up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ops.config.settings import Settings
from ops.shared import messages
from ops.shared.errors import StartupError
from strategy.venue import BrokerAuthError, BrokerError, BrokerUnavailable

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


async def read_at_start(settings: Settings, call: Callable[[], Awaitable[T]], what: str) -> T:
    """Every broker read of a start-up (account, positions, orders, market clock): retried
    `broker.startup_attempts` times from `broker.startup_retry_sec`; what still fails stops
    the start with one line for the operator (a StartupError), never a traceback."""
    attempts = settings.integer("broker.startup_attempts")
    try:
        return await retry_transient(
            call, what, attempts, settings.number("broker.startup_retry_sec")
        )
    except BrokerAuthError as exc:
        raise StartupError(messages.STARTUP_KEYS_REFUSED.format(error=exc)) from exc
    except BrokerUnavailable as exc:
        raise StartupError(
            messages.STARTUP_UNREACHABLE.format(what=what, attempts=attempts, error=exc)
        ) from exc
    except BrokerError as exc:
        raise StartupError(messages.STARTUP_REFUSED.format(what=what, error=exc)) from exc
