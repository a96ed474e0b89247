"""The order updates a worker follows (its strategy's and the kill's), each into its book."""

from __future__ import annotations

import logging
from collections import deque

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from ops.cluster.codec import CodecError, decode_updates
from ops.cluster.kill_fills import close_by_kill
from ops.cluster.replay import read_stream, stream_seq
from ops.cluster.resume import OrderedFeed, Reconnects
from ops.cluster.subjects import EXEC_STREAM, KILL_ORDERS, exec_filter
from ops.cluster.worker_spec import WorkerCounters, WorkerSpec
from strategy.book import Book
from strategy.engine import Engine
from strategy.types import OrderUpdate

log = logging.getLogger(__name__)


class ExecFollower:
    """Reads the updates stored at a restart, then follows the stream from the last of them."""

    def __init__(
        self,
        js: JetStreamContext,
        spec: WorkerSpec,
        engine: Engine,
        book: Book,
        counters: WorkerCounters,
        reconnects: Reconnects | None = None,
    ) -> None:
        """`book`: what `engine` was built with."""
        self._js = js
        self._spec = spec
        self._engine = engine
        self._book = book
        self._counters = counters
        self._reconnects = reconnects
        self._symbols = frozenset(engine.symbols)
        self._seq = 0  # the last update read: the live feed starts after it

    def _filters(self) -> list[str]:
        """The strategy's own order updates and the kill's orders, in one stream order."""
        account = self._spec.account
        return [exec_filter(account, self._spec.strategy), exec_filter(account, KILL_ORDERS)]

    async def read_stored(self) -> deque[tuple[str, OrderUpdate]]:
        """Every update stored now, with its token, oldest first."""
        updates: deque[tuple[str, OrderUpdate]] = deque()
        async for msg in read_stream(self._js, EXEC_STREAM, self._filters()):
            self._seq = stream_seq(msg)
            token = _token(msg.subject)
            for update in decode_updates(msg.data):
                if update.symbol in self._symbols:
                    updates.append((token, update))
        return updates

    def feed(self) -> OrderedFeed:
        """The updates after those read, as they come (resumed at once after a reconnection)."""
        return OrderedFeed(
            self._js,
            EXEC_STREAM,
            self._filters(),
            self._on_exec,
            f"exec-{self._spec.strategy}-p{self._spec.partitions[0]:02d}",
            self._reconnects,
            after=self._seq,
        )

    async def _on_exec(self, msg: Msg) -> None:
        try:
            updates = decode_updates(msg.data)
        except CodecError as exc:
            log.error("exec %s: %s", msg.subject, exc)
            return
        token = _token(msg.subject)
        for update in updates:
            if update.symbol in self._symbols:
                self.apply(token, update)
                self._counters.updates += 1

    def apply(self, token: str, update: OrderUpdate) -> None:
        """One of the strategy's own orders (under whichever token the order manager published
        it), or a fill of the kill's."""
        if token != KILL_ORDERS or self._book.order(update.client_order_id) is not None:
            self._engine.on_order_update(update)
        elif update.fill is not None and close_by_kill(
            self._book, self._engine, self._spec.strategy, update.fill, update.ts
        ):
            self._counters.closed_by_kill += 1


def _token(subject: str) -> str:
    """exec.{account}.{token}.{SYM or _batch}: the strategy, or the kill's orders."""
    return subject.split(".")[2]
