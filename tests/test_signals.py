"""Signal and sizing rules, checked against hand-computed examples."""

from __future__ import annotations

import math

import pytest

from strategy.signals import entry_limit_price, entry_side, position_size, should_exit
from strategy.types import Side


def test_entry_side_is_mean_reverting_with_strict_thresholds() -> None:
    """z < -2 buys, z > 2 sells short, exactly +-2 or nan does nothing."""
    assert entry_side(-2.01, 2.0) is Side.BUY
    assert entry_side(2.01, 2.0) is Side.SELL
    assert entry_side(-2.0, 2.0) is None
    assert entry_side(2.0, 2.0) is None
    assert entry_side(math.nan, 2.0) is None


def test_exit_when_z_is_back_inside_the_band() -> None:
    """|z| < exit_z exits; the boundary and nan do not."""
    assert should_exit(0.49, 0.5) and should_exit(-0.49, 0.5)
    assert not should_exit(0.5, 0.5)
    assert not should_exit(math.nan, 0.5)


@pytest.mark.parametrize(
    ("close", "side", "expected"),
    [
        (100.00, Side.BUY, 99.90),  # 100 x 0.999 = 99.9 exactly, no float artefact
        (100.00, Side.SELL, 100.10),
        (123.456, Side.BUY, 123.33),  # 123.332544 floored
        (123.456, Side.SELL, 123.58),  # 123.579456 ceiled
        (10.01, Side.BUY, 9.99),  # 9.99999 floored: never pay more than intended
    ],
)
def test_limit_prices_are_rounded_to_the_cent_in_our_favour(
    close: float, side: Side, expected: float
) -> None:
    """close x (1 -/+ 0.001): buys round down, sells round up, to the cent."""
    assert entry_limit_price(close, side, 0.001) == expected


def test_position_size_worked_example() -> None:
    """equity 100,000 x 1% / (2 x 0.2 + 1e-6) = $2,499.99; / $50 = 49.99 -> 49 shares."""
    assert position_size(100_000, 0.01, 0.2, 50.0, 100) == 49


def test_position_size_is_clamped() -> None:
    """At least 1 share, at most max_qty."""
    assert position_size(100_000, 0.01, 50.0, 500.0, 100) == 1  # 0.04 shares -> 1
    assert position_size(100_000, 0.01, 0.01, 10.0, 100) == 100  # 5,000 shares -> 100


@pytest.mark.parametrize(
    ("equity", "vol", "price"),
    [(0.0, 0.2, 50.0), (100_000, math.nan, 50.0), (100_000, 0.2, 0.0), (100_000, math.inf, 5.0)],
)
def test_position_size_is_zero_on_bad_input(equity: float, vol: float, price: float) -> None:
    """Non-finite or non-positive inputs mean: do not trade."""
    assert position_size(equity, 0.01, vol, price, 100) == 0
