"""`adopt` and `cancel-order`: the operator's say over what the broker holds that the book did
not place (a position to take into the book, a working order to cancel)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple

from ops.control.parts import ControlParts
from ops.service.adoption import adoption_price, operator_gain
from ops.service.foreign_orders import FOREIGN_ORDER_INCIDENT
from ops.shared import messages
from ops.shared.formatting import signed_money
from ops.shared.results import CommandError, Done, Result
from strategy.types import Intent
from strategy.venue import BrokerError


class Proposal(NamedTuple):
    """A change to hold behind a confirmation: what it is, what it will do, and the change."""

    title: str
    lines: tuple[str, ...]
    apply: Callable[[str], Awaitable[Result]]  # the confirmer -> the outcome


class Holdings:
    def __init__(self, parts: ControlParts) -> None:
        self._parts = parts

    async def adoption(self, args: tuple[str, ...]) -> Proposal:
        """`adopt SYMBOL`: the book takes the broker's position, once confirmed, unless the
        broker's position moved meanwhile."""
        if len(args) != 1:
            raise CommandError(messages.ADOPT_USAGE)
        symbol = args[0].upper()
        parts = self._parts
        if symbol not in parts.symbols:
            raise CommandError(f"{symbol} is not a configured symbol. {messages.ADOPT_USAGE}")
        broker_qty, broker_avg, broker_price = await self._broker_position(symbol)
        book = parts.book
        book_qty = book.position_qty(symbol)
        if broker_qty == book_qty:
            raise CommandError(messages.ADOPT_AGREE.format(symbol=symbol, qty=book_qty))
        fresh_sec = parts.settings().number("risk.stale_bar_sec")
        now = parts.clock.now()
        price = adoption_price(book, symbol, now, fresh_sec, broker_avg, broker_price)
        gain = operator_gain(book, symbol, broker_qty, broker_avg, price.price)

        async def apply(confirmer: str) -> Result:
            qty, avg, price_now = await self._broker_position(symbol)
            if (qty, avg) != (broker_qty, broker_avg):
                raise CommandError(messages.ADOPT_MOVED.format(symbol=symbol))
            done = parts.adopt_position(symbol, qty, avg, confirmer, price_now)
            return Done(
                messages.ADOPTED.format(
                    symbol=symbol,
                    qty=qty,
                    added=done.added,
                    price=done.price.price,
                    source=done.price.source,
                    user=confirmer,
                    gain=signed_money(done.operator_pnl),
                )
            )

        return Proposal(
            f"adopt {symbol}: book {book_qty:+d} -> broker {broker_qty:+d}",
            messages.adopt_preview(
                symbol,
                broker_qty - book_qty,
                broker_qty,
                broker_avg,
                price.price,
                price.source,
                gain,
            ),
            apply,
        )

    async def cancel_order(self, args: tuple[str, ...], user: str) -> Done:
        """One working order canceled at the broker (a foreign one found at start-up, say);
        no confirmation: canceling only ever reduces what can happen."""
        if len(args) != 1:
            raise CommandError(messages.CANCEL_ORDER_USAGE)
        coid = args[0]
        order = self._parts.book.order(coid)
        if order is None or not order.working:
            raise CommandError(messages.CANCEL_ORDER_UNKNOWN.format(coid=coid))
        try:
            await self._parts.broker().cancel(coid)
        except BrokerError as exc:
            raise CommandError(messages.CANCEL_ORDER_FAILED.format(coid=coid, error=exc)) from exc
        r = order.request
        self._parts.incidents.resolve(
            f"{FOREIGN_ORDER_INCIDENT}{r.symbol}", f"{coid}: cancel sent by {user}"
        )
        filled = "stay yours until adopted" if r.intent is Intent.FOREIGN else "stay booked"
        return Done(
            f"cancel of {coid} ({r.side} {r.qty} {r.symbol}) sent by {user}; "
            f"shares it filled before {filled}"
        )

    async def _broker_position(self, symbol: str) -> tuple[int, float, float | None]:
        """(qty, average price, current price) at the broker; (0, 0.0, None) if it holds none."""
        try:
            held = await self._parts.broker().positions()
        except BrokerError as exc:
            raise CommandError(f"cannot read the broker's positions: {exc}") from exc
        for position in held:
            if position.symbol == symbol:
                return position.qty, position.avg_price, position.market_price
        return 0, 0.0, None
