"""The one kill path (console, Slack, kill file): cancel all, flatten, verify flat, report.

The caller halts trading first (synchronously) so that no new order can slip in while this
runs. The first pass is one close-all request (one round trip however many positions); what
is still held after that is re-closed per position until flat or the timeout. Flatten orders
are tracked in the book like any other order, so every exit has a fill price and a slippage
figure for the report. Their ids carry a random token per flattener, so no two flatteners (in
this process or across restarts) can reuse one.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from ops.shared.results import KillReport, PositionExit
from strategy.book import Book
from strategy.book_records import BookOrder
from strategy.clock import Clock
from strategy.types import (
    BrokerPosition,
    OrderRequest,
    OrderUpdate,
    Side,
)
from strategy.venue import Broker, BrokerError, SendRefused

log = logging.getLogger(__name__)
KILL_PREFIX = "kill-"
FIRST_POLL_SEC = 0.05


@dataclass(slots=True)
class _Exit:
    position: BrokerPosition
    order_ids: list[str] = field(default_factory=list)
    remaining: int = 0


async def _nothing_to_wait_for() -> None:
    return None


class OrderFlow(Protocol):
    """What flattening needs of the engine (strategy.engine.Engine): its submits in flight land
    before the cancel-all, and the flatten orders' acks go where every order's go."""

    async def drain(self) -> None: ...

    def on_order_update(self, update: OrderUpdate) -> None: ...

    def track(self, order: OrderRequest, ack: OrderUpdate) -> None: ...


class Flattener:
    def __init__(
        self,
        orders: OrderFlow,
        broker: Broker,
        book: Book,
        clock: Clock,
        timeout_sec: float,
        poll_sec: float,
        before_closing: Callable[[], Awaitable[object]] = _nothing_to_wait_for,
    ) -> None:
        self._orders = orders
        self._broker = broker
        self._book = book
        self._clock = clock
        self._before_closing = before_closing  # awaited before the first close goes out
        self._timeout = timeout_sec
        self._poll = poll_sec
        self._token = secrets.token_hex(4)
        self._attempt = 0
        self._untracked: list[OrderUpdate] = []  # close-all acks whose side we do not know yet
        # a request refused before it was sent: this process may not change the account now
        # (the cluster's order manager cannot prove its lease); keep-flattening tries again
        self._refused = False

    async def run(self, user: str) -> KillReport:
        started = time.monotonic()
        deadline = started + self._timeout
        errors: list[str] = []
        await self._orders.drain()  # an entry already on its way must land before cancel_all
        canceled = len(self._book.working_orders())
        await self._cancel_all(errors)
        exits: dict[str, _Exit] = {}
        flat = False
        first_pass = True
        wait = min(FIRST_POLL_SEC, self._poll)  # market orders fill fast: look again soon
        while True:
            self._track_untracked(exits)
            try:
                held = await self._broker.positions()
                open_orders = await self._broker.open_orders()
                ours = {oid for e in exits.values() for oid in e.order_ids}
                stray = [o for o in open_orders if o.client_order_id not in ours]
            except BrokerError as exc:
                errors.append(f"reading positions failed: {exc}")
                held = None
            if held is not None:
                for position in held:
                    exits.setdefault(position.symbol, _Exit(position))
                for exit_ in exits.values():
                    exit_.remaining = 0
                for position in held:
                    exits[position.symbol].remaining = position.qty
                if not held and not stray and not self._untracked:
                    flat = True
                    break
                if self._refused:
                    break  # what is held is read; polling on could send nothing
                if first_pass:
                    first_pass = False
                    await self._before_closing()
                    await self._close_all(held, exits, errors)
                else:
                    if stray:
                        await self._cancel_all(errors)
                    await self._close_remaining(held, exits, errors)
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(wait)
            wait = min(wait * 2, self._poll)
        self._track_untracked(exits)
        errors.extend(
            f"close-all order {ack.client_order_id} for {ack.symbol} not tracked: "
            f"the book holds no {ack.symbol}"
            for ack in self._untracked
        )
        closed_until = None if flat else await self._closed_until(errors)
        return KillReport(
            user=user,
            canceled_orders=canceled,
            exits=tuple(self._summarize(e) for e in exits.values()),
            flat=flat,
            elapsed_sec=time.monotonic() - started,
            errors=tuple(dict.fromkeys(errors)),
            closed_until=closed_until,
        )

    async def _closed_until(self, errors: list[str]) -> float | None:
        """The next open when the market is closed (the broker holds market orders until then),
        else None."""
        try:
            clock = await self._broker.clock()
        except BrokerError as exc:
            errors.append(f"reading the market clock failed: {exc}")
            return None
        return None if clock.is_open else clock.next_open

    async def _cancel_all(self, errors: list[str]) -> None:
        try:
            await self._broker.cancel_all()
        except BrokerError as exc:
            self._failed(errors, "cancel all orders", exc)

    async def _close_all(
        self, held: list[BrokerPosition], exits: dict[str, _Exit], errors: list[str]
    ) -> None:
        book = self._book
        book.expect_broker_orders()  # their updates may come before the reply names them
        try:
            result = await self._broker.close_all()
        except BrokerError as exc:
            book.broker_orders_named(())
            self._failed(errors, "close all positions", exc)
            if not self._refused:
                await self._close_remaining(held, exits, errors)
            return
        book.broker_orders_named(ack.client_order_id for ack in result.placed)
        errors.extend(f"closing {refusal}" for refusal in result.refused)
        by_symbol = {p.symbol: p for p in held}
        for ack in result.placed:
            position = by_symbol.get(ack.symbol)
            if position is None:  # filled after we read positions: the book knows it
                self._untracked.append(ack)
                continue
            self._track(position, ack, exits)
        self._track_untracked(exits)

    def _track_untracked(self, exits: dict[str, _Exit]) -> None:
        """Track close-all acks for symbols the position read missed, sized from the book's
        position (an entry that filled after the read); its fills, even those already held
        as orphans, then move the book like any other flatten order's."""
        waiting, self._untracked = self._untracked, []
        for ack in waiting:
            position = self._book_position(ack.symbol)
            if position is None:  # the entry's fill has not reached the book yet
                self._untracked.append(ack)
                continue
            self._track(position, ack, exits)

    def _book_position(self, symbol: str) -> BrokerPosition | None:
        book = self._book
        position = book.position(symbol)
        if position is None:
            return None
        last = book.last_price(symbol)
        price = last[0] if last is not None else position.avg_price
        return BrokerPosition(symbol, position.qty, position.avg_price, price)

    def _track(self, position: BrokerPosition, ack: OrderUpdate, exits: dict[str, _Exit]) -> None:
        order = self._flatten_order(position, ack.client_order_id)
        exits.setdefault(position.symbol, _Exit(position)).order_ids.append(order.client_order_id)
        self._orders.track(order, ack)

    async def _close_remaining(
        self, held: list[BrokerPosition], exits: dict[str, _Exit], errors: list[str]
    ) -> None:
        """Send a flatten order for each position that has no flatten order working."""
        book = self._book
        sends = []
        for position in held:
            exit_ = exits[position.symbol]
            if any(_working(book.order(oid)) for oid in exit_.order_ids):
                continue
            order = self._flatten_order(position, self._next_id(position.symbol))
            exit_.order_ids.append(order.client_order_id)
            book.add_order(order, None)
            sends.append(self._send(order, errors))
        await asyncio.gather(*sends)

    def _next_id(self, symbol: str) -> str:
        self._attempt += 1
        return f"{KILL_PREFIX}{self._token}-{symbol}-{self._attempt}"

    def _flatten_order(self, position: BrokerPosition, client_order_id: str) -> OrderRequest:
        return OrderRequest.flatten(
            client_order_id,
            position.symbol,
            position.qty,
            position.market_price,
            self._clock.now(),
        )

    async def _send(self, order: OrderRequest, errors: list[str]) -> None:
        try:
            ack = await self._broker.submit(order)
        except BrokerError as exc:
            self._failed(errors, f"closing {order.symbol}", exc)
            self._book.apply(OrderUpdate.rejected(order, str(exc), self._clock.now()))
            return
        self._orders.on_order_update(ack)

    def _failed(self, errors: list[str], what: str, exc: BrokerError) -> None:
        errors.append(f"{what} failed: {exc}")
        self._refused = self._refused or isinstance(exc, SendRefused)

    def _summarize(self, exit_: _Exit) -> PositionExit:
        book = self._book
        filled = 0
        cost = 0.0
        for oid in exit_.order_ids:
            order = book.order(oid)
            if order is not None and order.filled_qty and order.avg_fill_price is not None:
                filled += order.filled_qty
                cost += order.filled_qty * order.avg_fill_price
        reference = exit_.position.market_price
        avg = cost / filled if filled else None
        slippage = None
        if avg is not None and reference > 0:
            side = Side.SELL if exit_.position.qty > 0 else Side.BUY
            slippage = side.sign * (avg - reference) / reference * 1e4
        return PositionExit(
            symbol=exit_.position.symbol,
            qty_before=exit_.position.qty,
            filled_qty=filled,
            avg_price=avg,
            reference_price=reference,
            slippage_bps=slippage,
            remaining=exit_.remaining,
        )


def _working(order: BookOrder | None) -> bool:
    return order is not None and order.working
