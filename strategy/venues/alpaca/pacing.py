"""Client-side pacing under Alpaca's REST rate limit (200 requests/minute by default)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """`rate_per_min` tokens a minute, bursting up to `burst`; `acquire` waits (never blocks
    the loop) until a token is free."""

    def __init__(
        self, rate_per_min: float, burst: int = 10, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate_per_min / 60.0
        self._burst = float(burst)
        self._tokens = float(burst)
        self._now = now
        self._last = now()
        self._paused_until = 0.0

    def _refill(self) -> None:
        now = self._now()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now

    def pause(self, seconds: float) -> None:
        """After a 429: no requests for `seconds`."""
        self._paused_until = max(self._paused_until, self._now() + seconds)
        self._tokens = 0.0

    async def acquire(self) -> None:
        while True:
            self._refill()
            wait = self._paused_until - self._now()
            if wait <= 0 and self._tokens >= 1:
                self._tokens -= 1
                return
            await asyncio.sleep(max(wait, (1 - self._tokens) / self._rate))
