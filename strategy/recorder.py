"""What the core needs from a journal: a cheap, non-blocking append of one row to a table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol


class Recorder(Protocol):
    def record(self, table: str, row: Mapping[str, object]) -> None:
        """Queue one row for `table`. Must not block and must not raise on the hot path."""
        ...


def keeps(recorder: Recorder, table: str) -> bool:
    """Whether rows of `table` are worth building, asked once by whoever writes them on every
    order: a recorder that names the tables it keeps (`kept_tables`) drops the others unread."""
    kept: frozenset[str] | None = getattr(recorder, "kept_tables", None)
    return kept is None or table in kept


class MemoryRecorder:
    """Keeps rows in lists; for tests, benchmarks and backtests without a database. `tables`:
    keep only these (a backtest reads its fills alone), by default every table."""

    def __init__(self, tables: Iterable[str] | None = None) -> None:
        self.rows: dict[str, list[dict[str, object]]] = {}
        self.kept_tables = frozenset(tables) if tables is not None else None

    def record(self, table: str, row: Mapping[str, object]) -> None:
        if self.kept_tables is None or table in self.kept_tables:
            self.rows.setdefault(table, []).append(dict(row))

    def of(self, table: str) -> list[dict[str, object]]:
        return self.rows.get(table, [])
