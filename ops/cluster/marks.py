"""Bars from NATS as the order manager's feed: they price its book (marks for the risk gate's
collar, exposure and equity); the workers decide, the order manager does not."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from ops.cluster.codec import CodecError, decode_bar
from ops.cluster.resume import OrderedFeed, Reconnects
from ops.cluster.subjects import BARS_STREAM
from strategy.types import Bar

log = logging.getLogger(__name__)
ALL_BARS = "md.bar.>"


class NatsMarks:
    """A Feed: each symbol's newest stored bar first, then every new one, in order (an
    OrderedFeed: resumed at once after a reconnection). `observers` see each bar before the
    engine does (the simulator's clock and fills)."""

    def __init__(
        self,
        js: JetStreamContext,
        observers: Sequence[Callable[[Bar], None]] = (),
        reconnects: Reconnects | None = None,
    ) -> None:
        self._js = js
        self._observers = tuple(observers)
        self._reconnects = reconnects
        self._last_bar_ts: float | None = None
        self._arrived: asyncio.Queue[Msg] = asyncio.Queue()
        self.bad = 0  # bodies that were not bars (logged, skipped)

    @property
    def last_bar_ts(self) -> float | None:
        return self._last_bar_ts

    async def bars(self) -> AsyncIterator[Bar]:
        feed = OrderedFeed(
            self._js,
            BARS_STREAM,
            [ALL_BARS],
            self._arrive,
            "marks",
            self._reconnects,
            newest_first=True,
        )
        await feed.start()
        try:
            while True:
                msg = await self._arrived.get()
                try:
                    bar = decode_bar(msg.data)
                except CodecError as exc:
                    self.bad += 1
                    log.warning("bar on %s skipped: %s", msg.subject, exc)
                    continue
                self._last_bar_ts = bar.ts
                for observe in self._observers:
                    observe(bar)
                yield bar
        finally:
            await feed.stop()

    async def _arrive(self, msg: Msg) -> None:
        self._arrived.put_nowait(msg)
