"""TradingClient calls as the broker makes them: paced under Alpaca's rate limit, each in a
worker thread with its send check asked in that thread right before the request, alpaca-py's
errors mapped once onto strategy.venue's BrokerError tree, and refused keys reported."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from strategy.venue import BrokerAuthError, SendRefused, WriteCheck
from strategy.venues.alpaca.mapping import RateLimited, broker_error
from strategy.venues.alpaca.pacing import TokenBucket

T = TypeVar("T")


def _checked_call(check: WriteCheck | None, fn: Callable[..., T], *args: Any) -> T:
    """In the worker thread: the check, then at once the request it allows."""
    refusal = check() if check is not None else None
    if refusal is not None:
        raise SendRefused(refusal)
    return fn(*args)


class RestCalls:
    """`await calls(fn, *args, send_check=...)`: one REST call. Neither the wait for the rate
    limit nor the wait for a free thread comes between `send_check` and the wire. A 429 pauses
    every call for `rate_limit_pause_sec`; `on_refused(cause)` hears of refused keys and
    `on_accepted()` of every call that went through."""

    def __init__(
        self,
        requests_per_min: float,
        rate_limit_pause_sec: float,
        on_refused: Callable[[str], None],
        on_accepted: Callable[[], None],
    ) -> None:
        self._bucket = TokenBucket(requests_per_min)
        self._rate_limit_pause = rate_limit_pause_sec
        self._on_refused = on_refused
        self._on_accepted = on_accepted

    async def __call__(
        self, fn: Callable[..., T], *args: Any, send_check: WriteCheck | None = None
    ) -> T:
        await self._bucket.acquire()
        try:
            result = await asyncio.to_thread(_checked_call, send_check, fn, *args)
        except SendRefused:
            raise
        except Exception as exc:
            mapped = broker_error(exc)
            if isinstance(mapped, RateLimited):
                self._bucket.pause(self._rate_limit_pause)
            if isinstance(mapped, BrokerAuthError):
                self._on_refused(str(mapped))
            raise mapped from exc
        self._on_accepted()
        return result
