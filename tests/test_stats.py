"""RollingStats: O(1) running sums that agree with the article's numpy computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategy.stats import ANNUALIZATION, RollingStats


def reference(closes: list[float], lookback: int, vol_window: int = 10) -> tuple[float, ...]:
    window = np.array(closes[-lookback:])
    returns = np.diff(np.log(window))
    std = float(np.std(returns))
    z = float((returns[-1] - np.mean(returns)) / (std + 1e-8))
    vol = float(np.std(returns[-vol_window:]) * np.sqrt(252 * 390))
    return z, vol, float(np.mean(returns)), std


def assert_matches(
    stats: RollingStats, closes: list[float], lookback: int, vol_window: int
) -> None:
    z, vol, mean, std = reference(closes, lookback, vol_window)
    assert stats.z == pytest.approx(z, rel=1e-7, abs=1e-6)
    assert stats.vol == pytest.approx(vol, rel=1e-9, abs=1e-9)
    assert stats.mean == pytest.approx(mean, rel=1e-9, abs=1e-12)
    assert stats.std == pytest.approx(std, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("seed", "lookback"), [(1, 20), (2, 5), (3, 60), (4, 500)])
def test_matches_numpy_on_long_random_walks(seed: int, lookback: int) -> None:
    """Every bar of a 3,000-bar walk (the ring wraps, exact recomputes happen) matches numpy."""
    rng = np.random.default_rng(seed)
    closes = list(100 * np.exp(np.cumsum(rng.normal(0, 0.001, 3000))))
    stats = RollingStats(lookback, vol_window=min(10, lookback - 1), capacity=500)
    for i, close in enumerate(closes):
        stats.update(close)
        if i + 1 >= lookback and i % 7 == 0:
            assert_matches(stats, closes[: i + 1], lookback, min(10, lookback - 1))


@settings(max_examples=150, deadline=None)
@given(
    closes=st.lists(st.floats(1.0, 10_000.0), min_size=3, max_size=120),
    lookback=st.integers(3, 40),
)
def test_property_matches_numpy_after_every_update(closes: list[float], lookback: int) -> None:
    """For any positive price path and window, the stats equal numpy on the last closes."""
    vol_window = max(2, min(10, lookback - 1))
    stats = RollingStats(lookback, vol_window=vol_window, capacity=64)
    for i, close in enumerate(closes):
        stats.update(close)
        assert stats.ready == (i + 1 >= lookback)
        if stats.ready:
            z, vol, _, std = reference(closes[: i + 1], lookback, vol_window)
            scale = max(1.0, std * 1e7)  # z is unstable only where std ~ 0
            assert stats.z == pytest.approx(z, rel=1e-6, abs=1e-6 * scale)
            assert stats.vol == pytest.approx(vol, rel=1e-6, abs=1e-6)


def test_not_ready_until_lookback_closes_then_ready() -> None:
    """z and vol are nan until `lookback` closes have been seen."""
    stats = RollingStats(5, vol_window=3)
    for close in (10.0, 10.1, 10.2, 10.1):
        stats.update(close)
        assert not stats.ready and math.isnan(stats.z) and math.isnan(stats.vol)
    stats.update(10.0)
    assert stats.ready and math.isfinite(stats.z)


def test_resize_keeps_history_and_matches_numpy() -> None:
    """Growing or shrinking the window recomputes from the stored returns."""
    rng = np.random.default_rng(9)
    closes = list(50 * np.exp(np.cumsum(rng.normal(0, 0.002, 200))))
    stats = RollingStats(20, vol_window=10, capacity=100)
    for close in closes:
        stats.update(close)
    stats.resize(60)
    assert_matches(stats, closes, 60, 10)
    stats.resize(12)
    assert_matches(stats, closes, 12, 10)
    stats.update(closes[-1] * 1.01)
    assert_matches(stats, [*closes, closes[-1] * 1.01], 12, 10)


def test_a_huge_return_leaving_the_window_leaves_no_residue() -> None:
    """After a 100x jump has left the window, a flat series gives z = 0 and vol = 0 exactly."""
    stats = RollingStats(5, vol_window=3, capacity=50)
    for close in (1.0, 100.0, *([100.0] * 10)):
        stats.update(close)
    assert stats.std == 0.0 and stats.vol == 0.0 and stats.z == 0.0


def test_annualization_is_the_articles() -> None:
    """Volatility is annualized with sqrt(252 * 390) one-minute bars."""
    assert pytest.approx(math.sqrt(98_280)) == ANNUALIZATION


@pytest.mark.parametrize(
    ("args", "message"),
    [((2,), "lookback"), ((600,), "lookback"), ((5, 5), "vol_window"), ((5, 1), "vol_window")],
)
def test_bad_arguments_are_refused(args: tuple[int, ...], message: str) -> None:
    """Windows outside their ranges raise ValueError naming the argument."""
    with pytest.raises(ValueError, match=message):
        RollingStats(*args)


def test_non_positive_close_is_refused() -> None:
    """A zero or negative close cannot have a log return."""
    with pytest.raises(ValueError, match="close"):
        RollingStats(5, vol_window=3).update(0.0)
