"""What an order manager needs of the engine and the book that take its workers' intents
(strategy.engine.Engine, strategy.book.Book), as the narrow views it is given."""

from __future__ import annotations

from typing import Protocol

from strategy.book_records import BookOrder
from strategy.risk import Denial
from strategy.types import OrderRequest, OrderUpdate


class IntentIntake(Protocol):
    """The engine's steps an intent takes: the risk gate and the book, the send, the update."""

    def admit(self, order: OrderRequest, bar_ts: float | None) -> Denial | None: ...

    async def submit(self, order: OrderRequest) -> None: ...

    def on_order_update(self, update: OrderUpdate) -> None: ...


class OrderLedger(Protocol):
    """The book's orders: one looked up, one taken as the order a predecessor sent."""

    def order(self, client_order_id: str) -> BookOrder | None: ...

    def track(self, order: OrderRequest, ack: OrderUpdate) -> None: ...
