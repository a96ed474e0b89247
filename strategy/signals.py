"""Pure decision rules: entry side, exit, limit price, position size (the article's strategy)."""

from __future__ import annotations

import math

from strategy.types import Side

SIZE_EPSILON = 1e-6  # the article's guard against a zero volatility


def entry_side(z: float, entry_z: float) -> Side | None:
    """Mean reversion: buy after a sharp drop, sell short after a sharp rise (nan -> None)."""
    if z < -entry_z:
        return Side.BUY
    if z > entry_z:
        return Side.SELL
    return None


def should_exit(z: float, exit_z: float) -> bool:
    return abs(z) < exit_z  # nan compares False


def _cents(price: float) -> float:
    """Price in cents, with float noise (e.g. 99.9 * 100 = 9989.999...) removed."""
    return round(price * 100, 6)


def entry_limit_price(close: float, side: Side, offset: float) -> float:
    """close x (1 -/+ offset), rounded to the cent in the direction that never pays more."""
    if side is Side.BUY:
        return round(math.floor(_cents(close * (1 - offset))) / 100, 2)
    return round(math.ceil(_cents(close * (1 + offset))) / 100, 2)


def position_size(equity: float, risk_pct: float, vol: float, price: float, max_qty: int) -> int:
    """Shares such that a 2-sigma move costs `risk_pct` of equity; 0 means do not trade."""
    finite = math.inf  # each of the three must be finite and positive (nan compares False)
    if not (0 < equity < finite and 0 < vol < finite and 0 < price < finite) or risk_pct <= 0:
        return 0
    dollars = equity * risk_pct / (2 * vol + SIZE_EPSILON)
    return max(1, min(math.floor(dollars / price), max_qty))
