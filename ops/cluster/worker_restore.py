"""Rebuilding a restarted worker up to its consumers' ack floors: intents, updates, replayed bars.

It first reads what the worker had sent (INTENTS) and their updates (EXEC), whole (one per
order: far fewer than bars); then the bars of a bounded span before the oldest ack floor
(replay.replay_span: the rolling window and the cooldown, doubled; not the MD_BARS stream's 7
days): its first part only warms each symbol's statistics and marks, its last part (the
cooldown's) goes through the same engine with the broker publishing nothing, so statistics,
cooldowns and working orders are those of a worker that never stopped; the consumers then
redeliver from the ack floor. A bar redelivered after it produced an intent decides the same
client_order_id, which is not published again.

What the span leaves out: orders sent on bars before its decided part enter the book as sent
(and count toward the gate's day and minute limits) instead of being decided again; the
running sums of the statistics start from the span's first bar, so they can differ from the
uninterrupted worker's in the last bits (a decision differs only for a z or a size within
rounding of its threshold); and the worker's own day-start equity (its daily-loss pre-check;
the order manager's check is the binding one) is its equity at the first decided bar when the
span starts after the day's first bar.
"""

from __future__ import annotations

import logging
from collections import deque

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from ops.cluster.bar_intake import BarIntake
from ops.cluster.codec import CodecError, decode_bars, decode_intent
from ops.cluster.exec_follow import ExecFollower
from ops.cluster.intents import IntentBroker
from ops.cluster.replay import first_seq_at, read_stream, replay_span, stream_seq
from ops.cluster.subjects import BARS_STREAM, INTENTS_STREAM, bar_subject
from ops.cluster.worker_spec import WorkerCounters, WorkerSpec
from strategy.book import Book
from strategy.engine import Engine
from strategy.market_day import trading_date
from strategy.risk import RiskGate
from strategy.types import OrderRequest, OrderUpdate

log = logging.getLogger(__name__)


class WorkerRestore:
    """One restart's rebuild: the intents read from the stream are needed only for it."""

    def __init__(
        self,
        js: JetStreamContext,
        spec: WorkerSpec,
        engine: Engine,
        book: Book,
        gate: RiskGate,
        broker: IntentBroker,
        intake: BarIntake,
        follower: ExecFollower,
        counters: WorkerCounters,
    ) -> None:
        """`book`, `gate`, `broker`: what `engine` was built with."""
        self._js = js
        self._spec = spec
        self._engine = engine
        self._book = book
        self._gate = gate
        self._broker = broker
        self._intake = intake
        self._follower = follower
        self._counters = counters
        self._sent: dict[str, OrderRequest] = {}

    async def run(self, floors: dict[int, int]) -> None:
        """Rebuild state up to `floors`, each partition's ack floor (0: nothing acked)."""
        await self._read_intents()
        updates = await self._follower.read_stored()
        ended = {u.client_order_id for _, u in updates if u.status.is_final}
        start, since, decided = await self._replay_start(floors)
        self._broker.replaying = True
        try:
            self._restore_sent_before(decided)
            await self._replay_bars(floors, updates, start, since, decided)
            while updates:
                self._restore_update(*updates.popleft())
            for coid, order in self._sent.items():  # sent, never re-decided, not final yet
                if coid not in ended and self._book.order(coid) is None:
                    self._engine.restore_sent(order)
        finally:
            self._broker.replaying = False
        log.info(
            "worker %s p%s restored: %d bars, %d intents, %d updates",
            self._spec.strategy,
            ",".join(map(str, self._spec.partitions)),
            self._counters.replayed_bars,
            self._counters.restored_intents,
            self._counters.restored_updates,
        )

    async def _read_intents(self) -> None:
        prefix = f"intent.{self._spec.account}.{self._spec.strategy}.>"
        symbols = frozenset(self._engine.symbols)
        async for msg in read_stream(self._js, INTENTS_STREAM, [prefix]):
            order, _ = decode_intent(msg.data)
            if order.symbol in symbols:
                self._sent[order.client_order_id] = order
        for coid, order in self._sent.items():
            self._broker.remember(coid, order.created_ts)
        self._counters.restored_intents = len(self._sent)

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
        span = replay_span(self._engine.params, self._spec.bar_sec)
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
            self._engine.restore_sent(order)
            if trading_date(order.created_ts) == day:
                self._gate.record_sent(order.created_ts)

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
        intake = self._intake
        subjects = [bar_subject(p) for p, floor in floors.items() if floor > 0]
        async for msg in read_stream(
            self._js, BARS_STREAM, subjects, upto=upto, start=start or None
        ):
            partition = int(msg.subject.split(".")[2][1:])
            if stream_seq(msg) > floors[partition]:
                continue
            bars = intake.decode(msg)
            if not bars or bars[0].ts < since:
                continue
            bar_ts = bars[0].ts
            while updates and updates[0][1].ts <= bar_ts:
                self._restore_update(*updates.popleft())
            if bar_ts < decided:
                for bar in bars:
                    if intake.warm(bar):
                        self._counters.replayed_bars += 1
                continue
            orders = intake.orders_decided()
            for bar in bars:
                if intake.take(bar):
                    self._counters.replayed_bars += 1
            if intake.orders_decided() != orders:
                await intake.settle()

    def _restore_update(self, token: str, update: OrderUpdate) -> None:
        """An update of an order sent before the restart that the replay did not decide again
        (the live worker had it): the book takes the order as it was sent."""
        sent = self._sent.get(update.client_order_id)
        if sent is not None and self._book.order(update.client_order_id) is None:
            self._engine.restore_sent(sent)
        self._follower.apply(token, update)
        self._counters.restored_updates += 1


def _bar_ts(msg: Msg) -> float:
    bars = decode_bars(msg.data)
    if not bars:
        raise CodecError("an empty bar batch")
    return bars[0].ts
