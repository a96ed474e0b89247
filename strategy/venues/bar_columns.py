"""Bars as columns (numpy arrays): what a backtest loads and computes on. It is also a
read-only sequence of `Bar`, so code written for a list of bars works on it unchanged."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

import numpy as np

from strategy.types import Bar

COLUMNS = ("timestamp", "symbol", "open", "high", "low", "close", "volume")  # a bar file's header


@dataclass(frozen=True, eq=False)
class BarColumns(Sequence[Bar]):
    """Row i is the bar of symbol `names[code[i]]` at `ts[i]`, in the file's (time) order."""

    names: tuple[str, ...]
    code: np.ndarray  # int, index into names
    ts: np.ndarray  # float64 epoch seconds, bar start
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    # derived data computed once per bars (python lists, statistics): shared by every run on them
    cache: dict[object, object] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, bars: Iterable[Bar]) -> BarColumns:
        if isinstance(bars, BarColumns):
            return bars
        rows = list(bars)
        codes: dict[str, int] = {}
        code = np.fromiter((codes.setdefault(b.symbol, len(codes)) for b in rows), np.int32)

        def column(name: str) -> np.ndarray:
            return np.fromiter((getattr(b, name) for b in rows), np.float64, len(rows))

        return cls(
            tuple(codes),
            code,
            column("ts"),
            column("open"),
            column("high"),
            column("low"),
            column("close"),
            column("volume"),
        )

    def __len__(self) -> int:
        return len(self.ts)

    @overload
    def __getitem__(self, index: int) -> Bar: ...
    @overload
    def __getitem__(self, index: slice) -> BarColumns: ...
    def __getitem__(self, index: int | slice) -> Bar | BarColumns:
        if isinstance(index, slice):
            return self.take(np.arange(len(self))[index])
        ts, open_, high, low, close, volume = self.scalars()  # cheap enough for a bisect
        return Bar(
            self.names[self.codes()[index]],
            ts[index],
            open_[index],
            high[index],
            low[index],
            close[index],
            volume[index],
        )

    def __iter__(self) -> Iterator[Bar]:
        names = self.names
        columns = (self.ts, self.open, self.high, self.low, self.close, self.volume)
        for c, *values in zip(self.code.tolist(), *(col.tolist() for col in columns), strict=True):
            yield Bar(names[c], *values)

    def take(self, rows: np.ndarray) -> BarColumns:
        """The bars at `rows` (indices or a boolean mask), in that order."""
        return BarColumns(
            self.names,
            self.code[rows],
            self.ts[rows],
            self.open[rows],
            self.high[rows],
            self.low[rows],
            self.close[rows],
            self.volume[rows],
        )

    def scalars(self) -> tuple[array[float], ...]:
        """(ts, open, high, low, close, volume), made once, indexed as python floats: `Bar`s
        built from them hold plain floats, as bars read row by row do. Arrays, not lists: the
        garbage collector never walks them (it walked millions of floats, ~0.1 s a pass)."""
        if "scalars" not in self.cache:
            columns = (self.ts, self.open, self.high, self.low, self.close, self.volume)
            self.cache["scalars"] = tuple(
                array("d", c.astype(np.float64).tobytes()) for c in columns
            )
        return self.cache["scalars"]  # type: ignore[return-value]

    def codes(self) -> array[int]:
        """`code` indexed as python ints (an array, as `scalars`)."""
        if "codes" not in self.cache:
            self.cache["codes"] = array("q", self.code.astype(np.int64).tobytes())
        return self.cache["codes"]  # type: ignore[return-value]
