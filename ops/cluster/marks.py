"""Bars from NATS as the order manager's feed: they price its book (marks for the risk gate's
collar, exposure and equity); the workers decide, the order manager does not."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from ops.cluster.codec import CodecError, decode_bar
from ops.cluster.replay import stream_seq
from ops.cluster.resume import Reconnects
from ops.cluster.subjects import BARS_STREAM
from strategy.types import Bar

log = logging.getLogger(__name__)
ALL_BARS = "md.bar.>"
RESUME_NAME = "marks"


class NatsMarks:
    """A Feed: each symbol's newest stored bar first, then every new one, in order (an ordered
    consumer, so nothing to acknowledge and nothing left behind when the process stops; after
    a reconnection it is rebuilt at once from the bar after the last one taken).
    `observers` see each bar before the engine does (the simulator's clock and fills)."""

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
        self._seq = 0  # stream sequence of the last bar taken
        self._sub: Subscription | None = None
        self._arrived: asyncio.Queue[Msg] = asyncio.Queue()
        self.bad = 0  # bodies that were not bars (logged, skipped)

    @property
    def last_bar_ts(self) -> float | None:
        return self._last_bar_ts

    async def bars(self) -> AsyncIterator[Bar]:
        await self._subscribe()
        if self._reconnects is not None:
            self._reconnects.add(RESUME_NAME, self._subscribe)
        try:
            while True:
                msg = await self._arrived.get()
                seq = stream_seq(msg)
                if seq <= self._seq:  # a copy from a consumer replaced after a reconnection
                    continue
                self._seq = seq
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
            if self._reconnects is not None:
                self._reconnects.remove(RESUME_NAME)
            if self._sub is not None:
                await self._sub.unsubscribe()

    async def _subscribe(self) -> None:
        """Each symbol's newest bar at the start; every bar after the last one taken on a
        resumption."""
        old, self._sub = self._sub, None
        if old is not None:
            with contextlib.suppress(NatsError):
                await old.unsubscribe()
        if self._seq:
            start = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self._seq + 1
            )
        else:
            start = ConsumerConfig(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)
        self._sub = await self._js.subscribe(
            ALL_BARS, stream=BARS_STREAM, cb=self._arrive, ordered_consumer=True, config=start
        )

    async def _arrive(self, msg: Msg) -> None:
        self._arrived.put_nowait(msg)
