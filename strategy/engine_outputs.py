"""What the engine tells its owner: the counters it keeps, and callbacks the owner replaces
(the service turns them into incidents and state changes, the order manager publishes
updates; by default they log)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from strategy.types import OrderRequest, OrderUpdate

log = logging.getLogger("strategy.engine")  # the engine's logger: these are its messages


def _log_error(where: str, exc: BaseException) -> None:
    log.error("%s failed", where, exc_info=exc)


def _log_breach(reason: str) -> None:
    log.warning("risk limit reached: %s", reason)


def _log_order(order: OrderRequest, message: str) -> None:
    log.warning("order %s: %s", order.client_order_id, message)


def _ignore_symbol(symbol: str) -> None:
    return None


@dataclass(slots=True)
class EngineEvents:
    # a bar or a background task raised: (where, the exception)
    error: Callable[[str, BaseException], None] = _log_error
    # a limit such as the daily loss was reached: the state's owner stops entries
    risk_breach: Callable[[str], None] = _log_breach
    # an order's outcome is still unknown after alert_after_sec / is known again
    order_unknown: Callable[[OrderRequest, str], None] = _log_order
    order_known: Callable[[OrderRequest, str], None] = _log_order
    # an exit the broker refused (or that failed to go out) while not HALTED: the position
    # stays open / a fill left a symbol flat
    exit_refused: Callable[[OrderRequest, str], None] = _log_order
    flat: Callable[[str], None] = _ignore_symbol
    # every order update once the book has it (the order manager publishes them); None:
    # nobody listens (three updates an order: not even a call to ignore them)
    update: Callable[[OrderUpdate], None] | None = None


@dataclass(slots=True)
class EngineCounters:
    bars: int = 0
    ignored_bars: int = 0
    signals: int = 0
    orders: int = 0
    refusals: int = 0
    broker_rejects: int = 0
    fills: int = 0
    errors: int = 0


@dataclass(frozen=True, slots=True)
class EngineProgress:
    """The engine's counters and market-time stamps at one moment (a copy)."""

    counters: EngineCounters
    first_bar_ts: float | None
    last_bar_ts: float | None
    last_order_ts: float | None  # market time of the newest order sent
    signals_at_last_order: int  # signals counted when it was sent

    @property
    def quiet_since(self) -> float | None:
        """Since when no order went out: the newest order, else the first bar."""
        return self.last_order_ts if self.last_order_ts is not None else self.first_bar_ts

    @property
    def signals_since_order(self) -> int:
        return self.counters.signals - self.signals_at_last_order
