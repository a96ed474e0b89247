"""Bars onto the bar stream: each on its partition's subject with `{SYM}:{bar_ts}` as message id,
so a second ingestor of the same feed is de-duplicated by the server, and nothing is published
blind: every PubAck is awaited, a bounded window of them in flight at once."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import PubAck

from ops.cluster.cancelling import raise_if_cancelling
from ops.cluster.codec import encode_bar
from ops.cluster.subjects import bar_msg_id, bar_subject
from strategy.types import Bar
from strategy.venue import Feed

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestCounters:
    published: int = 0  # stored by the server
    duplicates: int = 0  # already there (another ingestor, or a re-publish)
    retries: int = 0


class BarPublisher:
    """`publish` returns once the bar is sent; at most `window` bars await their PubAck, and
    `flush` waits for all of them. A PubAck that does not come is re-published under the same
    message id (harmless: the server drops the copy), up to `attempts` times."""

    def __init__(
        self,
        js: JetStreamContext,
        partitions: int,
        window: int = 1000,
        timeout_sec: float = 5.0,
        attempts: int = 5,
    ) -> None:
        self._js = js
        self._partitions = partitions
        self._window = window
        self._timeout = timeout_sec
        self._attempts = attempts
        self._pending: deque[tuple[Bar, asyncio.Future[PubAck]]] = deque()
        self.counters = IngestCounters()

    async def publish(self, bar: Bar) -> None:
        self._pending.append((bar, await self._send(bar)))
        if len(self._pending) >= self._window:
            await self._settle_oldest()

    async def flush(self) -> None:
        while self._pending:
            await self._settle_oldest()

    async def _send(self, bar: Bar) -> asyncio.Future[PubAck]:
        return await self._js.publish_async(
            bar_subject(bar.symbol, self._partitions),
            encode_bar(bar),
            headers={"Nats-Msg-Id": bar_msg_id(bar.symbol, bar.ts)},
        )

    async def _settle_oldest(self) -> None:
        bar, future = self._pending.popleft()
        for attempt in range(1, self._attempts + 1):
            try:
                async with asyncio.timeout(self._timeout):  # wait_for can swallow a cancel
                    ack = await future
            except (TimeoutError, nats.errors.Error) as exc:
                raise_if_cancelling()
                if attempt == self._attempts:
                    raise
                self.counters.retries += 1
                log.warning(
                    "bar %s %s: no PubAck (%r); publishing it again", bar.symbol, bar.ts, exc
                )
                future = await self._send(bar)
                continue
            if ack.duplicate:
                self.counters.duplicates += 1
            else:
                self.counters.published += 1
            return


async def ingest(feed: Feed, publisher: BarPublisher) -> IngestCounters:
    """Publish every bar of the feed until it ends (a live feed never does: cancel the task),
    then wait for the last PubAcks."""
    try:
        async for bar in feed.bars():
            await publisher.publish(bar)
    finally:
        await publisher.flush()
    return publisher.counters
