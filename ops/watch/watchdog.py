"""`tradebot watchdog`: a separate process that polls the primary's health endpoint and tells
Slack (its own bot token, or an incoming webhook) when the primary stops answering or its
heartbeat goes stale, again every `repeat_sec` while it lasts, and once when it recovers.
It holds no broker keys and never trades."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

log = logging.getLogger(__name__)
Notify = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Probe:
    healthy: bool
    detail: str


async def probe(session: aiohttp.ClientSession, url: str, limit_sec: float) -> Probe:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=limit_sec)) as response:
            if response.status != 200:
                return Probe(False, f"health endpoint answered HTTP {response.status}")
            body = await response.json()
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return Probe(False, f"not answering ({type(exc).__name__}: {exc or 'timeout'})")
    ages = body.get("heartbeat_age_sec", {})
    if body.get("stale"):
        return Probe(False, f"heartbeat stale: {ages} (limit {body.get('stale_after_sec')}s)")
    return Probe(True, f"{body.get('state')}, heartbeat ages {ages}")


class Watchdog:
    def __init__(
        self,
        url: str,
        notify: Notify,
        interval_sec: float = 10.0,
        repeat_sec: float = 300.0,
        timeout_sec: float = 5.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._notify = notify
        self._interval = interval_sec
        self._repeat = repeat_sec
        self._timeout = timeout_sec
        self._now = now
        self._down_since: float | None = None
        self._last_post = 0.0

    async def run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                await self.check(session)
                await asyncio.sleep(self._interval)

    async def check(self, session: aiohttp.ClientSession) -> Probe:
        result = await probe(session, self._url, self._timeout)
        now = self._now()
        if not result.healthy:
            if self._down_since is None:
                self._down_since = now
                await self._say(f":rotating_light: <!here> tradebot primary DOWN: {result.detail}")
            elif now - self._last_post >= self._repeat:
                minutes = (now - self._down_since) / 60
                await self._say(
                    f":rotating_light: tradebot primary still DOWN after {minutes:.0f} min: "
                    f"{result.detail}"
                )
        elif self._down_since is not None:
            minutes = (now - self._down_since) / 60
            self._down_since = None
            await self._say(
                f":white_check_mark: tradebot primary recovered after {minutes:.1f} min: "
                f"{result.detail}"
            )
        return result

    async def _say(self, text: str) -> None:
        self._last_post = self._now()
        log.warning("%s", text)
        try:
            await self._notify(text)
        except Exception as exc:  # Slack down too: the log has it, the next repeat retries
            log.error("could not post to Slack: %s", exc)
