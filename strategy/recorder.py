"""What the core needs from a journal: a cheap, non-blocking append of one row to a table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class Recorder(Protocol):
    def record(self, table: str, row: Mapping[str, object]) -> None:
        """Queue one row for `table`. Must not block and must not raise on the hot path."""
        ...


class MemoryRecorder:
    """Keeps rows in lists; for tests and benchmarks without a database."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, object]]] = {}

    def record(self, table: str, row: Mapping[str, object]) -> None:
        self.rows.setdefault(table, []).append(dict(row))

    def of(self, table: str) -> list[dict[str, object]]:
        return self.rows.get(table, [])
