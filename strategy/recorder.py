"""What the core needs from a journal: a cheap, non-blocking append of one row to a table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol


class Recorder(Protocol):
    def record(self, table: str, row: Mapping[str, object]) -> None:
        """Queue one row for `table`. Must not block and must not raise on the hot path."""
        ...


class MemoryRecorder:
    """Keeps rows in lists; for tests, benchmarks and backtests without a database. `tables`:
    keep only these (a backtest reads its fills alone), by default every table."""

    def __init__(self, tables: Iterable[str] | None = None) -> None:
        self.rows: dict[str, list[dict[str, object]]] = {}
        self._tables = frozenset(tables) if tables is not None else None

    def record(self, table: str, row: Mapping[str, object]) -> None:
        if self._tables is None or table in self._tables:
            self.rows.setdefault(table, []).append(dict(row))

    def of(self, table: str) -> list[dict[str, object]]:
        return self.rows.get(table, [])
