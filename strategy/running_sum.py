"""A sum of values by key, kept as each value changes: reading it is O(1), not a loop over
every key. Equity, gross exposure and committed buying power are read for every order, and an
account can hold hundreds of positions and working orders (a cluster's minute close), where a
loop per order made the minute O(n^2)."""

from __future__ import annotations

# Re-added from scratch after this many changes (or as many as there are keys, if more): the
# rounding of the changes never piles up, and the re-addition costs O(1) a change on average.
RESUM_AFTER = 64


class RunningSum:
    __slots__ = ("_changes", "_values", "total")

    def __init__(self) -> None:
        self._values: dict[str, float] = {}
        self._changes = 0
        self.total = 0.0

    def set(self, key: str, value: float) -> None:
        values = self._values
        self.total += value - values.get(key, 0.0)
        values[key] = value
        self._changes += 1  # `_changed`, inlined: this runs on every mark of a held symbol
        if self._changes >= RESUM_AFTER and self._changes >= len(values):
            self.total, self._changes = sum(values.values()), 0

    def drop(self, key: str) -> None:
        value = self._values.pop(key, None)
        if value is None:
            return
        if not self._values:
            self.total, self._changes = 0.0, 0
            return
        self.total -= value
        self._changed()

    def clear(self) -> None:
        self._values.clear()
        self.total, self._changes = 0.0, 0

    def _changed(self) -> None:
        self._changes += 1
        if self._changes >= RESUM_AFTER and self._changes >= len(self._values):
            self.total, self._changes = sum(self._values.values()), 0
