"""The book's positions and last prices: every symbol ever held (a closed one keeps its
realized P&L), the open ones (the sums run over these only), moved by fills through the one
position arithmetic (position_math), restored from the broker, marked by bars. Their value
and gross exposure are kept as they move and are marked (RunningSum): read for every order."""

from __future__ import annotations

from collections.abc import Callable

from strategy.book_records import Position
from strategy.params import StrategyParams
from strategy.position_math import change_position
from strategy.running_sum import RunningSum


class Positions:
    def __init__(self) -> None:
        self._all: dict[str, Position] = {}
        self._open: dict[str, Position] = {}  # the ones with qty != 0
        self.last: dict[str, tuple[float, float]] = {}  # symbol -> (price, ts); read-only outside
        self.realized = 0.0
        self._value = RunningSum()  # qty x price of each open position
        self._gross = RunningSum()  # |qty| x price of each open position
        # the symbol's open position, or None: read several times an order, so the dict's
        # own bound get (no Python call around it)
        self.open: Callable[[str], Position | None] = self._open.get

    def mark(self, symbol: str, price: float, ts: float) -> None:
        self.last[symbol] = (price, ts)
        pos = self._open.get(symbol)
        if pos is not None:
            self._value.set(symbol, pos.qty * price)
            self._gross.set(symbol, abs(pos.qty) * price)

    def open_ones(self) -> list[Position]:
        return list(self._open.values())

    def held(self, symbol: str) -> Position | None:
        """The symbol's position, open or closed (it keeps realized P&L and entry params)."""
        return self._all.get(symbol)

    def move(
        self, symbol: str, signed_qty: int, price: float, params: StrategyParams | None, ts: float
    ) -> None:
        pos = self._all.get(symbol)
        held, avg = (pos.qty, pos.avg_price) if pos is not None else (0, 0.0)
        change = change_position(held, avg, signed_qty, price)
        self.realized += change.realized
        if pos is None or pos.qty == 0:
            realized = pos.realized_pnl if pos else 0.0
            pos = self._all[symbol] = Position(
                symbol, change.qty, change.avg_price, realized, params, ts
            )
        else:
            pos.realized_pnl += change.realized
            pos.qty, pos.avg_price = change.qty, change.avg_price
            if change.opened:
                pos.entry_params, pos.opened_ts = params, ts
        self._track_open(pos)

    def restore(self, symbol: str, qty: int, avg_price: float, ts: float) -> None:
        """Set a position as the broker reports it, keeping its realized P&L and params."""
        pos = self._all.get(symbol)
        realized = pos.realized_pnl if pos else 0.0
        params = pos.entry_params if pos else None
        self._all[symbol] = Position(symbol, qty, avg_price, realized, params, ts)
        self._track_open(self._all[symbol])

    def _track_open(self, pos: Position) -> None:
        symbol = pos.symbol
        if pos.qty:
            self._open[symbol] = pos
            price = self._price(pos)
            self._value.set(symbol, pos.qty * price)
            self._gross.set(symbol, abs(pos.qty) * price)
        else:
            self._open.pop(symbol, None)
            self._value.drop(symbol)
            self._gross.drop(symbol)

    def apply_params(self, params: StrategyParams) -> int:
        for pos in self._open.values():
            pos.entry_params = params
        return len(self._open)

    def unrealized(self) -> float:
        return sum((self._price(p) - p.avg_price) * p.qty for p in self._open.values())

    def _price(self, pos: Position) -> float:
        last = self.last.get(pos.symbol)
        return last[0] if last is not None else pos.avg_price

    def equity(self, cash: float) -> float:
        """`cash` plus the open positions at their last prices (or their average price, before
        a mark)."""
        return cash + self._value.total

    def gross(self) -> float:
        return self._gross.total
