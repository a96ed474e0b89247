"""Bars onto the bar stream in batches: the bars of one partition and one bar time in one
message, so a minute of 5,000 symbols is a message per partition, not 5,000 (each one stored,
delivered and acknowledged). A batch's message id names its partition, bar time and symbols, so
a batch published again (a lost PubAck) or by a second ingestor of the same feed is
de-duplicated by the server. Nothing is published blind: every PubAck is awaited, a bounded
window of them in flight at once.

A bar time's batches go out when a bar of another time arrives, when a batch is full, when the
feed ends, or `linger_sec` after that time's first bar (a live feed's minute close arrives over
a moment, then nothing until the next minute); a bar of that time arriving later goes out in a
batch of its own."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import PubAck

from ops.cluster.cancelling import raise_if_cancelling
from ops.cluster.codec import encode_bars
from ops.cluster.subjects import bar_batch_msg_id, bar_subject, partition_of
from strategy.types import Bar
from strategy.venue import Feed

log = logging.getLogger(__name__)
LINGER_SEC = 0.02
MAX_BATCH = 1000  # ~60 bytes a bar: far below the server's max_payload


@dataclass(frozen=True, slots=True)
class BarBatch:
    """One message of the bar stream."""

    partition: int
    bars: tuple[Bar, ...]

    @property
    def subject(self) -> str:
        return bar_subject(self.partition)

    @property
    def data(self) -> bytes:
        return encode_bars(self.bars)

    @property
    def headers(self) -> dict[str, str]:
        ts = self.bars[0].ts
        return {"Nats-Msg-Id": bar_batch_msg_id(self.partition, ts, (b.symbol for b in self.bars))}


def batches(bars: list[Bar], partitions: int) -> list[BarBatch]:
    """Bars of one bar time as one batch per partition (tests, tools)."""
    by_partition: dict[int, list[Bar]] = {}
    for bar in bars:
        by_partition.setdefault(partition_of(bar.symbol, partitions), []).append(bar)
    return [BarBatch(p, tuple(found)) for p, found in sorted(by_partition.items())]


@dataclass(slots=True)
class IngestCounters:
    published: int = 0  # bars stored by the server
    duplicates: int = 0  # bars already there (another ingestor, or a re-publish)
    batches: int = 0  # messages stored
    retries: int = 0


class BarPublisher:
    """`publish` takes a bar; its batch is sent as described in the module. At most `window`
    batches await their PubAck, and `flush` sends what is open and waits for all of them. A
    PubAck that does not come is re-published under the same message id (harmless: the server
    drops the copy), up to `attempts` times."""

    def __init__(
        self,
        js: JetStreamContext,
        partitions: int,
        window: int = 256,
        timeout_sec: float = 5.0,
        attempts: int = 5,
        linger_sec: float = LINGER_SEC,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._js = js
        self._partitions = partitions
        self._window = window
        self._timeout = timeout_sec
        self._attempts = attempts
        self._linger = linger_sec
        self._max_batch = max_batch
        self._partition_of: dict[str, int] = {}
        self._bar_ts: float | None = None
        self._open: dict[int, list[Bar]] = {}
        self._sending = asyncio.Lock()  # one sender at a time: a partition's batches in order
        self._lingering: asyncio.TimerHandle | None = None
        self._linger_send: asyncio.Task[None] | None = None
        self._pending: deque[tuple[BarBatch, asyncio.Future[PubAck]]] = deque()
        self.counters = IngestCounters()

    async def publish(self, bar: Bar) -> None:
        self._raise_linger_failure()
        if bar.ts != self._bar_ts and self._open:
            await self._send_open()  # that bar time is complete
        self._bar_ts = bar.ts
        partition = self._partition_of.get(bar.symbol)
        if partition is None:
            partition = self._partition_of[bar.symbol] = partition_of(bar.symbol, self._partitions)
        if not self._open:
            self._lingering = asyncio.get_running_loop().call_later(self._linger, self._linger_up)
        batch = self._open.setdefault(partition, [])
        batch.append(bar)
        if len(batch) >= self._max_batch:
            await self._send_open()

    async def flush(self) -> None:
        if self._linger_send is not None:
            await self._linger_send
        self._raise_linger_failure()
        await self._send_open()
        while self._pending:
            await self._settle_oldest()

    def _linger_up(self) -> None:
        self._lingering = None
        if self._linger_send is None or self._linger_send.done():
            self._linger_send = asyncio.get_running_loop().create_task(
                self._send_open(), name="ingest-linger"
            )

    def _raise_linger_failure(self) -> None:
        """A failed send of the linger's batches ends the ingest like any other."""
        task = self._linger_send
        if task is not None and task.done():
            self._linger_send = None
            task.result()

    async def _send_open(self) -> None:
        async with self._sending:
            if self._lingering is not None:
                self._lingering.cancel()
                self._lingering = None
            ready, self._open = self._open, {}
            for partition, bars in ready.items():
                batch = BarBatch(partition, tuple(bars))
                self._pending.append((batch, await self._send(batch)))
                if len(self._pending) >= self._window:
                    await self._settle_oldest()

    async def _send(self, batch: BarBatch) -> asyncio.Future[PubAck]:
        return await self._js.publish_async(batch.subject, batch.data, headers=batch.headers)

    async def _settle_oldest(self) -> None:
        batch, future = self._pending.popleft()
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
                    "bars p%02d %s: no PubAck (%r); publishing them again",
                    batch.partition,
                    batch.bars[0].ts,
                    exc,
                )
                future = await self._send(batch)
                continue
            if ack.duplicate:
                self.counters.duplicates += len(batch.bars)
            else:
                self.counters.published += len(batch.bars)
                self.counters.batches += 1
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
