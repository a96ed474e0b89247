"""The strategy engine: bar -> rolling stats -> signal -> sizing -> risk gate -> broker.

`on_bar` is the synchronous hot path and does no I/O: positions and equity come from the
in-memory book, never from the broker. Orders are sent by named background tasks so that a slow
venue never holds up the next bar.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Mapping
from dataclasses import replace
from typing import Any

from strategy.book import Book
from strategy.clock import Clock
from strategy.decision import Decision
from strategy.engine_outputs import EngineCounters, EngineEvents, EngineProgress
from strategy.latency import LatencyTracker
from strategy.market_day import next_day_start, trading_date
from strategy.order_sender import OrderSender
from strategy.order_updates import OrderUpdates
from strategy.params import StrategyParams
from strategy.recorder import Recorder
from strategy.risk import Denial, RiskGate
from strategy.stats import RollingStats, SignalStats
from strategy.types import Bar, Intent, OrderRequest
from strategy.unknown_orders import UnknownOrderPolicy
from strategy.venue import Broker, Feed

log = logging.getLogger(__name__)


class Engine:
    def __init__(
        self,
        *,
        symbols: tuple[str, ...],
        params: StrategyParams,
        gate: RiskGate,
        book: Book,
        broker: Broker,
        clock: Clock,
        recorder: Recorder,
        latency: LatencyTracker | None,
        vol_window: int = 10,
        bar_sec: int = 60,
        equity_every_sec: float = 60.0,
        stats_capacity: int = 500,
        unknown_orders: UnknownOrderPolicy | None = None,
        drain_timeout_sec: float = 5.0,
        stats: Mapping[str, SignalStats] | None = None,
        order_prefix: str = "tb",
        fill_log_level: int = logging.INFO,
        events: EngineEvents | None = None,
        mark_only: bool = False,
        counters: EngineCounters | None = None,
    ) -> None:
        """`stats`: each symbol's statistics, when they come from elsewhere (a backtest's are
        computed for all bars at once); by default O(1) rolling ones updated bar by bar.
        `order_prefix` starts every client_order_id (a cluster worker adds its strategy).
        `latency`: None times nothing (a backtest's latency is the host's, and nobody reads it).
        `fill_log_level`: a book that mirrors fills another process logs keeps them to DEBUG.
        `events`: the owner's callbacks. `mark_only`: bars price the book and decide nothing
        (the order manager's engine: its workers decide). `counters`: kept by the owner too (a
        backtest's replay counts the bars it did not need to show)"""
        self.gate = gate
        self.book = book
        self._clock = clock
        self.latency = latency
        self._bar_sec = bar_sec
        self._equity_every_sec = equity_every_sec
        self._stats: dict[str, SignalStats] = (
            dict(stats)
            if stats is not None
            else {
                s: RollingStats(params.lookback, vol_window=vol_window, capacity=stats_capacity)
                for s in symbols
            }
        )
        self._next_equity_ts = 0.0
        self._next_day_ts = 0.0
        self.counters = counters if counters is not None else EngineCounters()
        self.first_bar_ts: float | None = None
        self.last_bar_ts: float | None = None
        self.last_order_ts: float | None = None  # market time of the newest order sent
        self.signals_at_last_order = 0  # signals counted when it was sent
        self.events = events or EngineEvents()
        self.mark_only = mark_only
        self._decision = Decision(
            params=params,
            book=book,
            clock=clock,
            recorder=recorder,
            counters=self.counters,
            order_prefix=order_prefix,
        )
        self._decide = self._decision.decide  # bound once: called for every ready bar
        updates = OrderUpdates(
            book=book,
            gate=gate,
            counters=self.counters,
            events=self.events,
            fill_log_level=fill_log_level,
        )
        # the updates' own methods, not a method of ours that calls them: a call less an update
        self.on_order_update = updates.apply
        self.track = updates.track  # an order this engine did not send (a kill's close-all)
        self._sender = OrderSender(
            broker=broker,
            gate=gate,
            clock=clock,
            recorder=recorder,
            latency=latency,
            counters=self.counters,
            events=self.events,
            on_update=self.on_order_update,
            unknown_orders=unknown_orders or UnknownOrderPolicy(),
            drain_timeout_sec=drain_timeout_sec,
        )
        if latency is not None:
            updates.acked = self._sender.acked
        broker.subscribe(self.on_order_update)
        broker.guard(gate.send_refusal)

    @property
    def broker(self) -> Broker:
        return self._sender.broker

    @broker.setter
    def broker(self, broker: Broker) -> None:
        """A test puts a variant of the simulated venue under the engine before any bar."""
        self._sender.broker = broker

    @property
    def params(self) -> StrategyParams:
        return self._decision.params

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._stats)

    def stats(self, symbol: str) -> SignalStats | None:
        return self._stats.get(symbol)

    def progress(self) -> EngineProgress:
        """A copy of the counters and market-time stamps, for status and checks."""
        return EngineProgress(
            replace(self.counters),
            self.first_bar_ts,
            self.last_bar_ts,
            self.last_order_ts,
            self.signals_at_last_order,
        )

    def defer_submits(self, queue: list[Coroutine[Any, Any, None]]) -> None:
        """Queue submits on `queue` instead of tasks, for whoever runs them (a backtest's
        replay runs them where the feed would have let tasks run: a task per order is a third
        of an order's cost there, and the simulated broker answers at once)."""
        self._sender.deferred = queue

    def set_params(self, params: StrategyParams, apply_to_open: bool) -> None:
        """Swap thresholds. Open positions keep their entry parameters unless `apply_to_open`."""
        if params.lookback != self._decision.params.lookback:
            for stats in self._stats.values():
                stats.resize(params.lookback)
        self._decision.params = params
        if apply_to_open:
            self.book.apply_params_to_open_positions(params)

    async def run(self, feed: Feed) -> None:
        """Consume the feed until it ends. A bar that raises is reported and skipped: one bad
        bar must not stop trading on every other symbol."""
        monotonic_ns = self._clock.monotonic_ns
        async for bar in feed.bars():
            self.take(bar, monotonic_ns())

    def take(self, bar: Bar, received_ns: int | None = None) -> None:
        """`on_bar` within the engine loop's boundary: a bar that raises is reported, skipped."""
        try:
            self.on_bar(bar, received_ns)
        except Exception as exc:
            self.counters.errors += 1
            self.events.error(f"engine-{bar.symbol}", exc)

    def warm(self, bar: Bar) -> None:
        """What `on_bar` does before deciding, and only that: the symbol's mark and statistics
        (a bar replayed to rebuild them). A close the statistics refuse is reported."""
        self.book.mark(bar.symbol, bar.close, bar.ts + self._bar_sec)
        try:
            self._stats[bar.symbol].update(bar.close)
        except ValueError as exc:
            self.events.error(f"engine-{bar.symbol}", exc)

    def restore_sent(self, order: OrderRequest) -> None:
        """An order sent before a restart: the book takes it as sent, under today's parameters."""
        self.book.add_order(order, self._decision.params)

    def on_bar(self, bar: Bar, received_ns: int | None = None) -> None:
        latency = self.latency
        monotonic_ns = self._clock.monotonic_ns
        t0 = t1 = 0
        if latency is not None:
            t0 = monotonic_ns()
            if received_ns is not None:
                latency.observe("ingest", t0 - received_ns)
        stats = self._stats.get(bar.symbol)
        if stats is None:
            self.counters.ignored_bars += 1
            return
        self.counters.bars += 1
        bar_end = bar.ts + self._bar_sec
        if self.first_bar_ts is None:
            self.first_bar_ts = bar.ts
        self.last_bar_ts = bar.ts
        self.book.mark(bar.symbol, bar.close, bar_end)
        now = self._clock.now()
        if now >= self._next_equity_ts:
            self._periodic(now)
        if self.mark_only:
            return
        stats.update(bar.close)
        if latency is not None:
            t1 = monotonic_ns()
            latency.observe("features", t1 - t0)
        if not stats.ready or self.book.has_working_order(bar.symbol):
            return
        if self.book.is_foreign(bar.symbol):  # the operator's until adopted
            return
        order = self._decide(bar, stats, bar_end)
        if order is None:
            return
        if latency is not None:
            latency.observe("decision", monotonic_ns() - t1)
        self._send(order, bar_end)

    def _send(self, order: OrderRequest, bar_end: float) -> None:
        if self.admit(order, bar_end) is not None:
            return
        self.last_order_ts = bar_end
        self.signals_at_last_order = self.counters.signals
        self._sender.in_background(order)

    def admit(self, order: OrderRequest, bar_ts: float | None) -> Denial | None:
        """The risk gate, then the book (which journals the order): the denial, or None once
        the order is the book's to send. Decisions here and a worker's intents (the order
        manager's) both pass this way."""
        denial = self.gate.check(order, self.book, bar_ts=bar_ts)
        if denial is not None:
            if denial.rule == "daily_loss":
                self.events.risk_breach(denial.reason)
            self.counters.refusals += 1
            self._sender.journal_refusal(order, denial.rule, denial.reason)
            if log.isEnabledFor(logging.INFO):  # a backtest's are not: no arguments built
                log.info(
                    "refused %s %s %s: %s",
                    order.side,
                    order.qty,
                    order.symbol,
                    denial.reason,
                    extra={"refusal": (order.symbol, denial.rule)},  # repeats rate-limited by key
                )
            return denial
        params = self._decision.params
        if order.intent is not Intent.ENTRY:
            position = self.book.position(order.symbol)
            if position is not None:
                params = position.entry_params or params
        self.book.add_order(order, params)
        self.counters.orders += 1
        return None

    def submit_in_background(self, order: OrderRequest) -> None:
        """Send an order the book already holds, on a tracked task (or queued, when whoever
        called `defer_submits` runs them)."""
        self._sender.in_background(order)

    async def submit(self, order: OrderRequest) -> None:
        """Send an order the book already holds and wait until the broker has answered (the
        order manager takes intents one at a time)."""
        await self._sender.submit(order)

    def _periodic(self, now: float) -> None:
        """Market-time housekeeping: the day boundary and the equity curve."""
        if now >= self._next_day_ts:
            self.book.start_day(trading_date(now))
            self._next_day_ts = next_day_start(now)
        self.book.snapshot_equity(now)
        self._next_equity_ts = now + self._equity_every_sec

    @property
    def sending(self) -> bool:
        """Whether a submit on a background task has not ended yet."""
        return self._sender.sending

    async def drain(self) -> None:
        """Wait for in-flight submits, e.g. before a kill's cancel-all or shutdown, for as long
        as one broker request may take."""
        await self._sender.drain()
