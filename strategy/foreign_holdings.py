"""What the broker holds that the bot did not open: the operator's shares, until adopted.

They count in gross exposure and stay out of the book's cash and equity. The operator's money
made or lost inside the account stays out of the book too: their shares' gain or loss up to an
adoption (the book adopts at the market price), what their own orders' fills realized and
cost in commission. The broker's cash holds it and the book's does not, so `operator_pnl`
(journaled, restored at start-up) is what cash reconciliation allows for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from strategy.position_math import change_position


def operator_cost(held: int, held_avg: float, broker_qty: int, broker_avg: float) -> float:
    """What each of the operator's shares cost: the broker's cost of the whole position less
    the book's own, per share the book does not hold (the broker's average blends both)."""
    return (broker_qty * broker_avg - held * held_avg) / (broker_qty - held)


def gain_until_adoption(
    held: int, held_avg: float, broker_qty: int, broker_avg: float, price: float
) -> float:
    """The operator's gain on the shares a book holding `held` at `held_avg` adopts at
    `price`: what the book pays for them less what the broker's cash paid (the broker's cost
    of the whole position less the book's own)."""
    return (broker_qty - held) * price - (broker_qty * broker_avg - held * held_avg)


class ForeignHoldings:
    def __init__(self) -> None:
        self._held: dict[str, tuple[int, float]] = {}  # symbol -> (signed qty, average cost)
        self.operator_pnl = 0.0
        self.holds: Callable[[str], bool] = self._held.__contains__  # no Python call: every bar

    def hold(self, symbol: str, qty: int, avg_price: float) -> None:
        if qty:
            self._held[symbol] = (qty, avg_price)
        else:
            self._held.pop(symbol, None)

    def fill(self, symbol: str, signed_qty: int, price: float, commission: float) -> float:
        """A fill of the operator's own order moves their holding; returns the operator P&L
        it made (realized on a reduction, less its commission)."""
        held, avg = self._held.get(symbol, (0, 0.0))
        change = change_position(held, avg, signed_qty, price)
        self.hold(symbol, change.qty, change.avg_price)
        made = change.realized - commission
        self.operator_pnl += made
        return made

    def taken(self, symbol: str, made: float) -> None:
        """The book adopted `symbol`: the operator's gain on it up to now is theirs."""
        self._held.pop(symbol, None)
        self.operator_pnl += made

    def as_dict(self) -> dict[str, tuple[int, float]]:
        return dict(self._held)

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._held

    def cost(self) -> float:
        return sum(qty * avg for qty, avg in self._held.values())

    def exposure(self, marks: Mapping[str, tuple[float, float]]) -> float:
        """Their gross market value at the book's marks (price, ts), else at their cost."""
        gross = 0.0
        for symbol, (qty, avg) in self._held.items():
            mark = marks.get(symbol)
            gross += abs(qty) * (mark[0] if mark is not None else avg)
        return gross
