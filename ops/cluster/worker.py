"""A strategy worker: the Engine over a range of bar partitions, its orders published as intents.

Per partition one durable pull consumer (explicit acks) of its bar batches (one message per
partition and bar time, see ops.cluster.ingest). What one fetch brings is decided bar by bar
(synchronous, no I/O); only when a bar produced an order does it wait, for that intent's
PubAck; then every message is acked. A bar not newer than the last one of its symbol (a batch
delivered again, another ingestor's copy) is dropped; its message is acked all the same.

After a restart the worker first rebuilds what it knew: the intents it had sent (INTENTS) and
their updates (EXEC), read whole (one per order: far fewer than bars); then the bars of a
bounded span before the oldest ack floor (replay.replay_span: the rolling window and the
cooldown, doubled; not the MD_BARS stream's 7 days): its first part only warms each symbol's
statistics and marks, its last part (the cooldown's) goes through the same engine with the
broker publishing nothing, so statistics, cooldowns and working orders are those of a worker
that never stopped; the consumers then redeliver from the ack floor. A bar redelivered after it
produced an intent decides the same client_order_id, which is not published again.

What the span leaves out: orders sent on bars before its decided part enter the book as sent
(and count toward the gate's day and minute limits) instead of being decided again; the
running sums of the statistics start from the span's first bar, so they can differ from the
uninterrupted worker's in the last bits (a decision differs only for a z or a size within
rounding of its threshold); and the worker's own day-start equity (its daily-loss pre-check;
the order manager's check is the binding one) is its equity at the first decided bar when the
span starts after the day's first bar.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from ops.cluster.codec import CodecError, decode_bars, decode_intent, decode_update
from ops.cluster.intents import IntentBroker
from ops.cluster.kill_fills import close_by_kill
from ops.cluster.pull import fetch_or_nothing
from ops.cluster.replay import first_seq_at, read_stream, replay_span, stream_seq
from ops.cluster.resume import OrderedFeed, Reconnects
from ops.cluster.subjects import (
    BARS_STREAM,
    EXEC_STREAM,
    INTENTS_STREAM,
    KILL_ORDERS,
    bar_subject,
    consumer_name,
    exec_filter,
)
from strategy.book import Book
from strategy.clock import BarClock
from strategy.engine import Engine
from strategy.market_day import trading_date
from strategy.risk import RiskGate
from strategy.types import (
    Bar,
    OrderRequest,
    OrderUpdate,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    strategy: str
    account: str
    partitions: tuple[int, ...]
    ack_wait_sec: float
    bar_sec: int = 60
    batch: int = 500
    idle_fetch_sec: float = 1.0


@dataclass(slots=True)
class WorkerCounters:
    bars: int = 0  # decided
    stale: int = 0  # not newer than the last bar of their symbol: acked, dropped
    malformed: int = 0
    replayed_bars: int = 0
    restored_intents: int = 0
    restored_updates: int = 0
    updates: int = 0  # live order updates applied
    closed_by_kill: int = 0  # positions the account's kill closed
    idle_fetches: int = 0  # fetches that found no bar before their timeout


class Worker:
    def __init__(
        self,
        js: JetStreamContext,
        spec: WorkerSpec,
        engine: Engine,
        book: Book,
        gate: RiskGate,
        broker: IntentBroker,
        clock: BarClock,
        reconnects: Reconnects | None = None,
    ) -> None:
        """`book`, `gate`, `broker`, `clock`: what `engine` was built with."""
        self._js = js
        self._reconnects = reconnects
        self._spec = spec
        self.engine = engine
        self.book, self.gate = book, gate
        self._broker = broker
        self._clock = clock
        self._symbols = frozenset(engine.symbols)
        self._last_ts: dict[str, float] = {}
        self._subs: dict[int, JetStreamContext.PullSubscription] = {}
        self._exec_seq = 0
        self._sent: dict[str, OrderRequest] = {}
        self.counters = WorkerCounters()

    # -- start-up --------------------------------------------------------------------------

    async def restore(self) -> None:
        """Bind the durable consumers and rebuild state up to their ack floors."""
        floors = {p: await self._bind(p) for p in self._spec.partitions}
        await self._read_intents()
        updates = await self._read_updates()
        ended = {u.client_order_id for _, u in updates if u.status.is_final}
        start, since, decided = await self._replay_start(floors)
        self._broker.replaying = True
        try:
            self._restore_sent_before(decided)
            await self._replay_bars(floors, updates, start, since, decided)
            while updates:
                self._restore_update(*updates.popleft())
            for coid, order in self._sent.items():  # sent, never re-decided, not final yet
                if coid not in ended and self.book.order(coid) is None:
                    self.engine.restore_sent(order)
        finally:
            self._broker.replaying = False
            self._sent.clear()  # the stream's intents were needed only to rebuild
        log.info(
            "worker %s p%s restored: %d bars, %d intents, %d updates",
            self._spec.strategy,
            ",".join(map(str, self._spec.partitions)),
            self.counters.replayed_bars,
            self.counters.restored_intents,
            self.counters.restored_updates,
        )

    async def _bind(self, partition: int) -> int:
        """The durable consumer and its ack floor. Bars a dead worker had been given but not
        acked would come back only after ack_wait, behind newer ones (then dropped as not
        newer): the consumer is recreated at the ack floor so they come first. One worker per
        (strategy, partition): this takes the partition over."""
        durable = consumer_name(self._spec.strategy, partition)
        floor = 0
        try:
            info = await self._js.consumer_info(BARS_STREAM, durable)
        except NotFoundError:
            start = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        else:
            floor = info.ack_floor.stream_seq if info.ack_floor is not None else 0
            start = ConsumerConfig()
            if info.num_ack_pending:
                await self._js.delete_consumer(BARS_STREAM, durable)
                start = ConsumerConfig(
                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=floor + 1
                )
        start.ack_policy = AckPolicy.EXPLICIT
        start.ack_wait = self._spec.ack_wait_sec
        start.max_ack_pending = -1
        self._subs[partition] = await self._js.pull_subscribe(
            bar_subject(partition), durable=durable, stream=BARS_STREAM, config=start
        )
        return floor

    async def _read_intents(self) -> None:
        prefix = f"intent.{self._spec.account}.{self._spec.strategy}.>"
        async for msg in read_stream(self._js, INTENTS_STREAM, [prefix]):
            order, _ = decode_intent(msg.data)
            if order.symbol in self._symbols:
                self._sent[order.client_order_id] = order
        for coid, order in self._sent.items():
            self._broker.remember(coid, order.created_ts)
        self.counters.restored_intents = len(self._sent)

    def _exec_filters(self) -> list[str]:
        """The strategy's own order updates and the kill's orders, in one stream order."""
        account = self._spec.account
        return [exec_filter(account, self._spec.strategy), exec_filter(account, KILL_ORDERS)]

    async def _read_updates(self) -> deque[tuple[str, OrderUpdate]]:
        updates: deque[tuple[str, OrderUpdate]] = deque()
        async for msg in read_stream(self._js, EXEC_STREAM, self._exec_filters()):
            self._exec_seq = stream_seq(msg)
            update = decode_update(msg.data)
            if update.symbol in self._symbols:
                updates.append((_token(msg.subject), update))
        return updates

    async def _replay_start(self, floors: dict[int, int]) -> tuple[int, float, float]:
        """The first stream sequence to replay, and the market times from which bars warm and
        are decided: the replay span before the oldest ack floor's bar. Without that bar (aged
        out of the stream) everything still stored is replayed and decided."""
        floored = [seq for seq in floors.values() if seq > 0]
        if not floored:
            return 0, 0.0, 0.0
        try:
            floor_ts = min([await self._bar_ts_at(seq) for seq in floored])
        except (NotFoundError, CodecError):
            return 0, 0.0, 0.0
        span = replay_span(self.engine.params, self._spec.bar_sec)
        since = floor_ts - span.total_sec
        info = await self._js.stream_info(BARS_STREAM)
        start = await first_seq_at(
            self._js, BARS_STREAM, info.state.first_seq, max(floored), since, _bar_ts
        )
        return start, since, floor_ts - span.decided_sec

    async def _bar_ts_at(self, seq: int) -> float:
        return _bar_ts(await self._js.get_msg(BARS_STREAM, seq=seq))  # type: ignore[arg-type]

    def _restore_sent_before(self, decided: float) -> None:
        """Orders sent on bars before the decided part are not decided again: the book takes
        them as sent (their updates follow in time order) and the gate counts those of that
        part's first day, as it did when it admitted them (created_ts is the bar's end)."""
        bar_sec = self._spec.bar_sec
        day = trading_date(decided + bar_sec)
        before = [o for o in self._sent.values() if o.created_ts - bar_sec < decided]
        for order in sorted(before, key=lambda o: o.created_ts):
            self.engine.restore_sent(order)
            if trading_date(order.created_ts) == day:
                self.gate.record_sent(order.created_ts)

    async def _replay_bars(
        self,
        floors: dict[int, int],
        updates: deque[tuple[str, OrderUpdate]],
        start: int,
        since: float,
        decided: float,
    ) -> None:
        """In stream order from `start`: a bar before `since` (stored out of time order) is
        skipped, one before `decided` only warms, the others are decided again; an update is
        applied before the first bar that starts at or after its time, the best reconstruction
        of when the worker had it."""
        upto = max(floors.values(), default=0)
        if upto == 0:
            return
        subjects = [bar_subject(p) for p, floor in floors.items() if floor > 0]
        async for msg in read_stream(
            self._js, BARS_STREAM, subjects, upto=upto, start=start or None
        ):
            partition = int(msg.subject.split(".")[2][1:])
            if stream_seq(msg) > floors[partition]:
                continue
            bars = self._decode(msg)
            if not bars or bars[0].ts < since:
                continue
            bar_ts = bars[0].ts
            while updates and updates[0][1].ts <= bar_ts:
                self._restore_update(*updates.popleft())
            if bar_ts < decided:
                for bar in bars:
                    if self._warm(bar):
                        self.counters.replayed_bars += 1
                continue
            orders = self._orders_decided()
            for bar in bars:
                if self._take(bar):
                    self.counters.replayed_bars += 1
            if self._orders_decided() != orders:
                await self._settle()

    def _restore_update(self, token: str, update: OrderUpdate) -> None:
        """An update of an order sent before the restart that the replay did not decide again
        (the live worker had it): the book takes the order as it was sent."""
        book = self.book
        sent = self._sent.get(update.client_order_id)
        if sent is not None and book.order(update.client_order_id) is None:
            self.engine.restore_sent(sent)
        self._apply(token, update)
        self.counters.restored_updates += 1

    def _apply(self, token: str, update: OrderUpdate) -> None:
        """One of the strategy's own orders (under whichever token the order manager published
        it), or a fill of the kill's."""
        if token != KILL_ORDERS or self.book.order(update.client_order_id) is not None:
            self.engine.on_order_update(update)
        elif update.fill is not None and close_by_kill(
            self.book, self.engine, self._spec.strategy, update.fill, update.ts
        ):
            self.counters.closed_by_kill += 1

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Order updates as they come (resumed at once after a reconnection), and each
        partition's bars, until cancelled."""
        exec_feed = OrderedFeed(
            self._js,
            EXEC_STREAM,
            self._exec_filters(),
            self._on_exec,
            f"exec-{self._spec.strategy}-p{self._spec.partitions[0]:02d}",
            self._reconnects,
            after=self._exec_seq,
        )
        await exec_feed.start()
        try:
            async with asyncio.TaskGroup() as group:
                for partition, sub in self._subs.items():
                    group.create_task(self._consume(sub), name=f"bars-p{partition:02d}")
        finally:
            await exec_feed.stop()

    async def _on_exec(self, msg: Msg) -> None:
        try:
            update = decode_update(msg.data)
        except CodecError as exc:
            log.error("exec %s: %s", msg.subject, exc)
            return
        if update.symbol in self._symbols:
            self._apply(_token(msg.subject), update)
            self.counters.updates += 1

    async def _consume(self, sub: JetStreamContext.PullSubscription) -> None:
        while True:
            msgs = await fetch_or_nothing(sub, self._spec.batch, self._spec.idle_fetch_sec)
            if not msgs:
                self.counters.idle_fetches += 1
                continue
            await self.handle(msgs)

    async def handle(self, msgs: list[Msg]) -> None:
        """Decide what one fetch brought; wait for the PubAcks of any intents it produced; then
        ack it all."""
        orders = self._orders_decided()
        received_ns = self._clock.monotonic_ns()
        for msg in msgs:
            for bar in self._decode(msg):
                if self._take(bar, received_ns):
                    self.counters.bars += 1
        if self._orders_decided() != orders:
            await self._settle()
        for msg in msgs:
            await msg.ack()

    def _orders_decided(self) -> int:
        return self.engine.progress().counters.orders

    async def _settle(self) -> None:
        """The submit tasks have started (drain may time out, never before that) and every
        intent they publish has its PubAck."""
        await self.engine.drain()
        await self._broker.settled()

    def _decode(self, msg: Msg) -> list[Bar]:
        try:
            return decode_bars(msg.data)
        except CodecError as exc:
            self.counters.malformed += 1
            log.error("bars %s: %s (dropped)", msg.subject, exc)
            return []

    def _newer(self, bar: Bar) -> bool:
        """Newer than the last bar of its symbol (now the last), or counted as stale."""
        last = self._last_ts.get(bar.symbol)
        if last is not None and bar.ts <= last:
            self.counters.stale += 1
            return False
        self._last_ts[bar.symbol] = bar.ts
        return True

    def _warm(self, bar: Bar) -> bool:
        """A replayed bar before the decided part: its symbol's statistics and mark only, what
        the engine's on_bar does before deciding."""
        if self.engine.stats(bar.symbol) is None or not self._newer(bar):
            return False
        self.engine.warm(bar)
        return True

    def _take(self, bar: Bar, received_ns: int | None = None) -> bool:
        """Into the engine unless it is not newer than the last bar of its symbol."""
        if not self._newer(bar):
            return False
        self._clock.set(bar.ts + self._spec.bar_sec)
        self.engine.take(bar, received_ns)  # one bad bar must not stop every symbol
        return True


def _bar_ts(msg: Msg) -> float:
    bars = decode_bars(msg.data)
    if not bars:
        raise CodecError("an empty bar batch")
    return bars[0].ts


def _token(subject: str) -> str:
    """exec.{account}.{token}.{SYM}: the strategy, or the kill's orders."""
    return subject.split(".")[2]
