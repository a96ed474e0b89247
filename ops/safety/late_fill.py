"""A fill after the kill on an order not the kill's own, flattened through the single flight."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Protocol

from ops.safety.kill_outcome import KillSwitchStatus
from ops.shared.results import KillReport
from strategy.book import Book
from strategy.risk import RiskGate
from strategy.types import Intent, OrderUpdate, TradingState

LATE = "late fill"


class LateFillSwitch(Protocol):
    """What a late fill asks of the kill switch (ops.safety.kill_switch.KillSwitch)."""

    @property
    def flight(self) -> asyncio.Task[KillReport] | None: ...

    def status(self) -> KillSwitchStatus: ...

    def request(self, user: str, source: str, halt: bool = True) -> asyncio.Task[KillReport]: ...


class LateFillHost(Protocol):
    """What a late fill asks of the service (ops.safety.kill_switch.KillHost)."""

    book: Book
    gate: RiskGate

    def notify(self, message: str) -> None: ...

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...


class LateFills:
    """An entry whose HTTP call was already in flight at the kill, or at a crash before a
    restart that restored the HALT, fills while HALTED: it is flattened, and reported."""

    def __init__(self, switch: LateFillSwitch, host: LateFillHost) -> None:
        self._switch = switch
        self._host = host
        self._pending = False

    def on_order_update(self, update: OrderUpdate) -> None:
        """A broker listener, after the engine's: the book has applied the update."""
        if update.fill is None or self._pending:
            return
        if self._host.gate.state is not TradingState.HALTED:
            return
        order = self._host.book.order(update.client_order_id)
        if order is None or order.request.intent is Intent.FLATTEN:
            return
        self._pending = True
        fill = update.fill
        self._host.notify(
            f"late fill after the kill: {fill.side} {fill.qty} {update.symbol} "
            f"({update.client_order_id}); flattening"
        )
        last = self._switch.status().last
        by = last.by if last is not None else "the HALT restored at start-up"
        self._host.spawn("kill-late-fill", self._flatten_late(by))

    async def _flatten_late(self, user: str) -> None:
        """After the running flight (its last position read may predate the fill), a new one."""
        try:
            flight = self._switch.flight
            if flight is not None:
                await asyncio.wait([flight])
        finally:
            self._pending = False
        await asyncio.shield(self._switch.request(user, LATE, halt=False))
