"""How an order update reaches the engine's book: taken once, applied, counted and logged, the
daily loss checked after a fill, a flat symbol or a refused exit told to the owner, and every
update announced to whoever listens."""

from __future__ import annotations

import logging
from collections.abc import Callable

from strategy.book import Book
from strategy.engine_outputs import EngineCounters, EngineEvents
from strategy.risk import RiskGate
from strategy.types import Intent, OrderRequest, OrderStatus, OrderUpdate, TradingState

log = logging.getLogger("strategy.engine")  # the engine's logger: these are its messages


class OrderUpdates:
    def __init__(
        self,
        *,
        book: Book,
        gate: RiskGate,
        counters: EngineCounters,
        events: EngineEvents,
        fill_log_level: int,
    ) -> None:
        self._book = book
        self._gate = gate
        self._counters = counters
        self._events = events
        self._fill_log_level = fill_log_level
        self._last_update: OrderUpdate | None = None
        # the send side's decision-to-ack timer, set by the engine once both exist (None: the
        # engine times nothing)
        self.acked: Callable[[str], None] | None = None

    def apply(self, update: OrderUpdate) -> None:
        if update is self._last_update:
            return  # the very ack a venue gave its listeners, then returned: taken once
        self._last_update = update
        if self.acked is not None:
            self.acked(update.client_order_id)
        self._book.apply(update)
        if update.fill is not None:
            self._counters.fills += 1
            log.log(
                self._fill_log_level,
                "fill %s %s %s @ %.2f (%s)",
                update.fill.side,
                update.fill.qty,
                update.symbol,
                update.fill.price,
                update.status,
            )
            breach = self._gate.check_daily_loss(self._book)
            if breach is not None:
                self._events.risk_breach(breach.reason)
            if self._book.position(update.symbol) is None:
                self._events.flat(update.symbol)
        elif update.status is OrderStatus.REJECTED:
            self._exit_refused(update)
        announce = self._events.update
        if announce is not None:
            announce(update)

    def _exit_refused(self, update: OrderUpdate) -> None:
        """A refused exit leaves a position open that the strategy wanted closed: its owner must
        hear of it. Under a HALT exits are refused on purpose (the kill flattens)."""
        order = self._book.order(update.client_order_id)
        if order is None or order.request.intent is not Intent.EXIT:
            return
        if self._gate.state is not TradingState.HALTED:
            self._events.exit_refused(order.request, update.reason)

    def track(self, order: OrderRequest, ack: OrderUpdate) -> None:
        """An order this engine did not send (a kill's close-all order): the book tracks it and
        its ack is announced like every update the book applies (the cluster's order manager
        publishes it); updates the book held before this ack were announced when they came."""
        self._book.track(order, ack)
        announce = self._events.update
        if announce is not None:
            announce(ack)
