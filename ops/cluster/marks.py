"""Bars from NATS as the order manager's feed: they price its book (marks for the risk gate's
collar, exposure and equity); the workers decide, the order manager does not."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence

from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from ops.cluster.codec import CodecError, decode_bar
from ops.cluster.subjects import BARS_STREAM
from strategy.types import Bar

log = logging.getLogger(__name__)
ALL_BARS = "md.bar.>"


class NatsMarks:
    """A Feed: each symbol's newest stored bar first, then every new one, in order (an ordered
    consumer, so nothing to acknowledge and nothing left behind when the process stops).
    `observers` see each bar before the engine does (the simulator's clock and fills)."""

    def __init__(
        self, js: JetStreamContext, observers: Sequence[Callable[[Bar], None]] = ()
    ) -> None:
        self._js = js
        self._observers = tuple(observers)
        self._last_bar_ts: float | None = None
        self.bad = 0  # bodies that were not bars (logged, skipped)

    @property
    def last_bar_ts(self) -> float | None:
        return self._last_bar_ts

    async def bars(self) -> AsyncIterator[Bar]:
        sub = await self._js.subscribe(
            ALL_BARS,
            stream=BARS_STREAM,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
        )
        try:
            async for msg in sub.messages:
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
            await sub.unsubscribe()
