"""The one arithmetic for a position: average cost, adds, partial closes, flips, realized P&L.
The book moves its positions with it, and the P&L query replays the journal's fills through it,
so the two cannot disagree."""

from __future__ import annotations

from strategy.value_type import value_type


@value_type  # one per fill
class PositionChange:
    qty: int
    avg_price: float
    realized: float  # P&L of the shares this fill closed
    opened: bool  # a new position began at the fill's price (from flat, or by a flip)


def change_position(qty: int, avg_price: float, signed_qty: int, price: float) -> PositionChange:
    """A position of `qty` shares at `avg_price` after a fill of `signed_qty` at `price`."""
    if qty == 0:
        return PositionChange(signed_qty, price, 0.0, True)
    if (qty > 0) == (signed_qty > 0):
        total = qty + signed_qty
        return PositionChange(total, (avg_price * qty + price * signed_qty) / total, 0.0, False)
    closed = min(abs(signed_qty), abs(qty))
    realized = (price - avg_price) * closed * (1 if qty > 0 else -1)
    remainder = qty + signed_qty
    if remainder == 0 or (remainder > 0) == (qty > 0):
        return PositionChange(remainder, avg_price, realized, False)
    return PositionChange(remainder, price, realized, True)
