"""The two protocols every venue implements: a broker and a bar feed.

The engine talks only to these; `venues/sim.py` and `venues/alpaca/` implement them,
so the same engine runs live, in the simulator and in backtests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol

from strategy.types import (
    Account,
    Bar,
    BrokerPosition,
    Charge,
    CloseAllResult,
    MarketClock,
    OrderRequest,
    OrderUpdate,
)

OrderListener = Callable[[OrderUpdate], None]
SendCheck = Callable[[OrderRequest], "str | None"]  # why an order must not go out now, or None
WriteCheck = Callable[[], "str | None"]  # why nothing may change the account now, or None


def allow_every_order(order: OrderRequest) -> str | None:
    """A venue's order check until the engine registers its own (`Broker.guard`)."""
    return None


def allow_writes() -> str | None:
    """A venue's right to write until one is registered (`Broker.guard_writes`): always."""
    return None


class BrokerError(Exception):
    """Base of the errors a venue raises, grouped by what the caller must do."""


class OrderRejected(BrokerError):
    """Final: the venue refused the order (buying power, invalid, no position...)."""


class SendRefused(OrderRejected):
    """Final, and never sent: a check asked immediately before the request went out (after
    any wait for the rate limit or a worker thread) refused it: the engine's (a HALT or a
    pause came meanwhile), or the process's right to change the account (`guard_writes`)."""


class BrokerUnavailable(BrokerError):
    """Retry later: timeout, connection error, 5xx, rate limited."""


class BrokerAuthError(BrokerError):
    """Halt: credentials refused."""


class Broker(Protocol):
    name: str

    def subscribe(self, listener: OrderListener) -> None:
        """Register the callback that receives every order update (acks, fills, cancels).
        Listeners are called on the event loop thread."""
        ...

    def guard(self, check: SendCheck) -> None:
        """Register the check asked immediately before each order goes out, possibly in the
        thread that sends it (so it reads only what another thread may read); a reason it
        returns makes `submit` raise SendRefused without sending anything."""
        ...

    def guard_writes(self, check: WriteCheck) -> None:
        """Register the process's right to change the account (the cluster's order manager:
        its lease), asked like `guard`'s check immediately before every request that changes
        the account: each order, a cancel, cancel-all, close-all. A reason it returns makes
        that call raise SendRefused without sending anything. None registered: always allowed
        (a kill's own requests go out while HALTED)."""
        ...

    async def submit(self, order: OrderRequest) -> OrderUpdate:
        """Send an order; returns the venue's acknowledgement (status NEW/ACCEPTED, or a final
        status if it was resolved at once). Raises OrderRejected / BrokerUnavailable."""
        ...

    async def cancel(self, client_order_id: str) -> None: ...

    async def cancel_all(self) -> None: ...

    async def close_all(self) -> CloseAllResult:
        """Submit market orders that flatten every position (open orders are canceled first).
        Their acks come back in the result; their later updates through the listeners."""
        ...

    async def positions(self) -> list[BrokerPosition]: ...

    async def account(self) -> Account: ...

    async def clock(self) -> MarketClock: ...

    async def open_orders(self) -> list[OrderUpdate]: ...

    async def get_order(self, client_order_id: str) -> OrderUpdate | None: ...

    async def new_charges(self) -> list[Charge]:
        """Money the venue moved outside fills since the last call (fees; dividends and
        interest as negative charges), oldest first; the first call only takes note of those
        already there (the starting cash includes them)."""
        ...


class Feed(Protocol):
    def bars(self) -> AsyncIterator[Bar]:
        """Bars in time order; ends when the source is exhausted (or never, live)."""
        ...

    @property
    def last_bar_ts(self) -> float | None: ...
