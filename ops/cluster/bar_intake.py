"""A worker's bars into its engine, each only if newer than its symbol's last, and their intents."""

from __future__ import annotations

import logging

from nats.aio.msg import Msg

from ops.cluster.codec import CodecError, decode_bars
from ops.cluster.intents import IntentBroker
from ops.cluster.worker_spec import WorkerCounters
from strategy.clock import BarClock
from strategy.engine import Engine
from strategy.types import Bar

log = logging.getLogger(__name__)


class BarIntake:
    """The per-symbol "last bar" bookkeeping shared by the running worker and its replay."""

    def __init__(
        self,
        engine: Engine,
        broker: IntentBroker,
        clock: BarClock,
        bar_sec: int,
        counters: WorkerCounters,
    ) -> None:
        """`broker`, `clock`: what `engine` was built with."""
        self._engine = engine
        self._broker = broker
        self._clock = clock
        self._bar_sec = bar_sec
        self._counters = counters
        self._last_ts: dict[str, float] = {}

    def decode(self, msg: Msg) -> list[Bar]:
        try:
            return decode_bars(msg.data)
        except CodecError as exc:
            self._counters.malformed += 1
            log.error("bars %s: %s (dropped)", msg.subject, exc)
            return []

    def take(self, bar: Bar, received_ns: int | None = None) -> bool:
        """Into the engine unless it is not newer than the last bar of its symbol."""
        if not self._newer(bar):
            return False
        self._clock.set(bar.ts + self._bar_sec)
        self._engine.take(bar, received_ns)  # one bad bar must not stop every symbol
        return True

    def warm(self, bar: Bar) -> bool:
        """A replayed bar before the decided part: its symbol's statistics and mark only, what
        the engine's on_bar does before deciding."""
        if self._engine.stats(bar.symbol) is None or not self._newer(bar):
            return False
        self._engine.warm(bar)
        return True

    def orders_decided(self) -> int:
        return self._engine.progress().counters.orders

    async def settle(self) -> None:
        """The submit tasks have started (drain may time out, never before that) and every
        intent they publish has its PubAck."""
        await self._engine.drain()
        await self._broker.settled()

    def _newer(self, bar: Bar) -> bool:
        """Newer than the last bar of its symbol (now the last), or counted as stale."""
        last = self._last_ts.get(bar.symbol)
        if last is not None and bar.ts <= last:
            self._counters.stale += 1
            return False
        self._last_ts[bar.symbol] = bar.ts
        return True
