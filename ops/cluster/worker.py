"""A strategy worker: the Engine over a range of bar partitions, its orders published as intents.

Per partition one durable pull consumer (explicit acks) of its bar batches (one message per
partition and bar time, see ops.cluster.ingest). What one fetch brings is decided bar by bar
(synchronous, no I/O); only when a bar produced an order does it wait, for that intent's
PubAck; then every message is acked. A bar not newer than the last one of its symbol (a batch
delivered again, another ingestor's copy) is dropped; its message is acked all the same.

After a restart the worker first rebuilds what it knew up to its consumers' ack floors (see
ops.cluster.worker_restore), then follows its order updates and consumes its bars.
"""

from __future__ import annotations

import asyncio

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from ops.cluster.bar_intake import BarIntake
from ops.cluster.exec_follow import ExecFollower
from ops.cluster.intents import IntentBroker
from ops.cluster.pull import fetch_or_nothing
from ops.cluster.resume import Reconnects
from ops.cluster.subjects import BARS_STREAM, bar_subject, consumer_name
from ops.cluster.worker_restore import WorkerRestore
from ops.cluster.worker_spec import WorkerCounters, WorkerSpec, bar_consumer
from strategy.book import Book
from strategy.clock import BarClock
from strategy.engine import Engine
from strategy.risk import RiskGate


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
        self._spec = spec
        self.engine = engine
        self.book, self.gate = book, gate
        self._broker = broker
        self._clock = clock
        self._subs: dict[int, JetStreamContext.PullSubscription] = {}
        self.counters = WorkerCounters()
        self._intake = BarIntake(engine, broker, clock, spec.bar_sec, self.counters)
        self._exec = ExecFollower(js, spec, engine, book, self.counters, reconnects)

    # -- start-up --------------------------------------------------------------------------

    async def restore(self) -> None:
        """Bind the durable consumers and rebuild state up to their ack floors."""
        floors = {p: await self._bind(p) for p in self._spec.partitions}
        await WorkerRestore(
            self._js,
            self._spec,
            self.engine,
            self.book,
            self.gate,
            self._broker,
            self._intake,
            self._exec,
            self.counters,
        ).run(floors)

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
        config = bar_consumer(start, self._spec.ack_wait_sec)
        self._subs[partition] = await self._js.pull_subscribe(
            bar_subject(partition), durable=durable, stream=BARS_STREAM, config=config
        )
        return floor

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Order updates as they come (resumed at once after a reconnection), and each
        partition's bars, until cancelled."""
        exec_feed = self._exec.feed()
        await exec_feed.start()
        try:
            async with asyncio.TaskGroup() as group:
                for partition, sub in self._subs.items():
                    group.create_task(self._consume(sub), name=f"bars-p{partition:02d}")
        finally:
            await exec_feed.stop()

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
        intake = self._intake
        orders = intake.orders_decided()
        received_ns = self._clock.monotonic_ns()
        for msg in msgs:
            for bar in intake.decode(msg):
                if intake.take(bar, received_ns):
                    self.counters.bars += 1
        if intake.orders_decided() != orders:
            await intake.settle()
        for msg in msgs:
            await msg.ack()
