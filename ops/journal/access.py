"""Narrow views of the journal (ops.journal.journal.Journal) for those that need only a few
of its methods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class JournalAccess(Protocol):
    """Rows queued, committed, read back (the order manager's intents and their orders)."""

    def record(self, table: str, row: Mapping[str, object]) -> None: ...

    async def aflush(self) -> bool: ...

    async def aquery(
        self, sql: str, params: Sequence[object] | Mapping[str, object] = ()
    ) -> list[dict[str, object]]: ...


class ParamChanges(Protocol):
    """Where a change of a parameter is journaled."""

    def record_param_change(
        self, param: str, old: str, new: str | None, user: str, action: str, applied_to_open: bool
    ) -> None: ...
