"""The path-independent statistics of a backtest, for all bars at once (numpy): each bar's
z-score and volatility, the formulas of strategy.stats.RollingStats (population std of the
last `lookback - 1` log returns, 1e-8 guard; annualized std of the last `vol_window`), and the
bars where a decision can happen (|z| past the entry or the exit threshold)."""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from strategy.stats import ANNUALIZATION, EPSILON
from strategy.venues.bar_columns import BarColumns


@dataclass(frozen=True, slots=True)
class SymbolFeatures:
    rows: np.ndarray  # the symbol's bars: indices into the columns, in time order
    z: np.ndarray  # per bar of the symbol; nan until the window is full
    vol: np.ndarray
    ready_from: int  # the symbol's first bar with statistics (lookback - 1)


def _naive_std(windows: np.ndarray, mean: np.ndarray | None = None) -> np.ndarray:
    """sqrt(max(E[x^2] - E[x]^2, 0)) per row, as RollingStats computes it from its sums
    (`mean`: the rows' means, when the caller has them)."""
    n = windows.shape[1]
    if mean is None:
        mean = windows.sum(axis=1) / n
    return np.sqrt(np.maximum((windows * windows).sum(axis=1) / n - mean * mean, 0.0))


def symbol_features(
    rows: np.ndarray, close: np.ndarray, lookback: int, vol_window: int
) -> SymbolFeatures:
    """`close`: the symbol's closes in time order (`rows` says where they are)."""
    bars = len(close)
    z = np.full(bars, np.nan)
    vol = np.full(bars, np.nan)
    n = lookback - 1
    if bars > n:
        returns = np.log(close[1:] / close[:-1])  # log(close / previous), as the live stats
        windows = sliding_window_view(returns, n)  # row i: the window of bar i + n
        mean = windows.sum(axis=1) / n
        z[n:] = (windows[:, -1] - mean) / (_naive_std(windows, mean) + EPSILON)
        vol_windows = sliding_window_view(returns, vol_window)[n - vol_window :]
        vol[n:] = _naive_std(vol_windows) * ANNUALIZATION
    return SymbolFeatures(rows, z, vol, n)


def features(
    columns: BarColumns, symbols: tuple[str, ...], lookback: int, vol_window: int
) -> dict[str, SymbolFeatures]:
    """Per configured symbol; computed once per bars and window (every run on the same bars
    with the same lookback shares them: the costed and frictionless passes, most of a sweep)."""
    key = _key(symbols, lookback, vol_window)
    cached = columns.cache.get(key)
    if cached is None:
        codes = {name: i for i, name in enumerate(columns.names)}
        cached = {}
        for symbol in symbols:
            code = codes.get(symbol)
            rows = np.flatnonzero(columns.code == code) if code is not None else np.empty(0, int)
            cached[symbol] = symbol_features(rows, columns.close[rows], lookback, vol_window)
        columns.cache[key] = cached
    return cached  # type: ignore[return-value]


def _key(symbols: tuple[str, ...], lookback: int, vol_window: int) -> tuple[object, ...]:
    return ("features", symbols, lookback, vol_window)


Window = tuple[tuple[str, ...], int, int]  # (symbols, lookback, vol_window)
Shared = dict[tuple[object, ...], dict[str, SymbolFeatures]]


def share(columns: BarColumns, windows: Iterable[Window]) -> Shared:
    """The statistics of each distinct window, computed once here for every process that runs
    on these bars (a sweep's workers): `adopt` hands them to another copy of the columns."""
    return {_key(*w): features(columns, *w) for w in set(windows)}


def adopt(columns: BarColumns, shared: Shared) -> None:
    columns.cache.update(shared)


def candidates(
    found: SymbolFeatures, entry_z: float, exit_z: float
) -> tuple[np.ndarray, np.ndarray]:
    """(bars where |z| > entry_z, bars where |z| < exit_z), as indices into the columns: the
    only bars where a flat symbol may enter, or a held one exit."""
    z = np.abs(found.z)  # nan compares False: not ready, no candidate
    return found.rows[z > entry_z], found.rows[z < exit_z]


class PrecomputedStats:
    """A symbol's statistics as the engine reads them, at the bar the replay points `at`."""

    __slots__ = ("_ready_from", "_vol", "_z", "at")

    def __init__(self, found: SymbolFeatures) -> None:
        self._z = array("d", found.z.tobytes())  # not lists: see BarColumns.scalars
        self._vol = array("d", found.vol.tobytes())
        self._ready_from = found.ready_from
        self.at = -1

    def update(self, close: float) -> None:
        """Nothing to do: the replay sets `at` to the bar before the engine sees it."""

    def resize(self, lookback: int) -> None:
        raise ValueError("a backtest's statistics are computed for one lookback")

    @property
    def ready(self) -> bool:
        return self.at >= self._ready_from

    @property
    def z(self) -> float:
        return self._z[self.at]

    @property
    def vol(self) -> float:
        return self._vol[self.at]
