"""Catching up after the trade_updates stream (re)connects: every order that may still be live
at Alpaca, including those whose submit reply has not arrived, is re-read over REST until a
pass has run wholly after the last reconnect, so a fill made while the socket was down is not
missed. Only news reaches the listeners (OrderTracker)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from strategy.types import OrderUpdate
from strategy.venue import BrokerError
from strategy.venues.alpaca.tracking import OrderTracker

log = logging.getLogger(__name__)


class CatchUp:
    def __init__(
        self,
        orders: OrderTracker,
        sending: set[str],
        lookup: Callable[[str], Awaitable[OrderUpdate | None]],
        emit: Callable[[OrderUpdate], None],
        backoff_sec: float,
        backoff_cap_sec: float,
    ) -> None:
        self._orders = orders
        self._sending = sending  # submits whose outcome is not known yet
        self._lookup = lookup
        self._emit = emit
        self._backoff = (backoff_sec, backoff_cap_sec)
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def start(self) -> None:
        """The stream is listening again: re-read, or read again after the running pass."""
        if self._task is not None and not self._task.done():
            self._again = True  # the running pass may have read before this gap
            return
        self._task = asyncio.get_running_loop().create_task(
            self._until_current(), name="alpaca-refresh"
        )
        self._task.add_done_callback(_log_failure)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _until_current(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            await self._refresh_working()

    async def _refresh_working(self) -> None:
        """Re-read every order that may be live; a failed read is retried until it succeeds."""
        for coid in self._orders.working():
            found = await self._reread(coid)
            if found is not None:
                self._emit(found)
            elif coid not in self._sending:
                self._orders.not_placed(coid)

    async def _reread(self, coid: str) -> OrderUpdate | None:
        delay, cap = self._backoff
        while True:
            try:
                return await self._lookup(coid)
            except BrokerError as exc:
                if not self._orders.is_working(coid):  # its final event arrived meanwhile
                    return None
                log.warning("re-read of order %s failed (%s); retry in %.1fs", coid, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, cap)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", task.get_name(), exc_info=task.exception())
