"""Typed, frozen results of the command core. Surfaces (console, Slack) only render these."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from strategy.latency import StageStats
from strategy.types import TradingState


class CommandError(Exception):
    """A user-facing refusal: bad input, not allowed, expired. Shown as is; nothing changed."""


class UsageRefused(CommandError):
    """A refusal ending with the usage line (no command named, or words it takes none of); a
    surface with commands of its own adds them to it."""


class ConfirmationExpired(CommandError):
    """The pending action's time ran out; the surface may mark its message as expired."""


class Level(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One health check's verdict; the monitor's job and `/trade status` share it."""

    key: str
    level: Level
    message: str
    data: Mapping[str, object] = field(default_factory=dict)
    checked_at: float | None = None  # market time, stamped when the monitor keeps it
    state: TradingState | None = None  # the trading state a verdict depends on, if it does


@dataclass(frozen=True, slots=True)
class PositionLine:
    symbol: str
    qty: int
    avg_price: float
    last_price: float | None
    unrealized: float


@dataclass(frozen=True, slots=True)
class StatusResult:
    strategy: str
    venue: str
    state: TradingState
    state_reason: str
    equity: float
    day_pnl: float
    realized: float
    unrealized: float
    commissions: float
    drawdown: float
    positions: tuple[PositionLine, ...]
    working_orders: int
    orders_today: int
    bars: int
    signals: int
    fills: int
    refusals: int
    last_bar_age_sec: float | None
    latency: tuple[StageStats, ...]
    kill_switch_armed: bool
    checks: tuple[CheckResult, ...] = ()
    open_incidents: tuple[str, ...] = ()
    as_of: float | None = None  # market time of this status (the checks' ages count to it)


@dataclass(frozen=True, slots=True)
class PnlResult:
    """A period's P&L from the journal: net `pnl` = realized + unrealized_change - commissions."""

    period: str
    since_ts: float
    pnl: float
    realized: float
    unrealized_change: float  # unrealized now minus at the period's start
    unrealized: float  # now
    commissions: float
    equity: float
    peak_equity: float
    drawdown: float
    fills: int


@dataclass(frozen=True, slots=True)
class PositionCompare:
    symbol: str
    book_qty: int
    broker_qty: int | None  # None when the broker could not be read
    book_avg: float | None
    broker_avg: float | None

    @property
    def matches(self) -> bool:
        return self.broker_qty is None or self.book_qty == self.broker_qty


@dataclass(frozen=True, slots=True)
class CashCompare:
    """Book cash against the broker's. Holdings the bot did not open are in the broker's cash
    (it paid for them) but kept out of the book's, and so is the operator's gain inside the
    account (adopted shares' gain until adoption, their own orders' P&L): the broker should
    show the book less `foreign_cost` plus `operator_pnl`."""

    book: float
    broker: float | None  # None when the account could not be read
    foreign_cost: float
    tolerance: float
    operator_pnl: float = 0.0

    @property
    def gap(self) -> float | None:
        """The broker's cash minus what it should be (0 when the books balance)."""
        if self.broker is None:
            return None
        return self.broker - (self.book - self.foreign_cost + self.operator_pnl)

    @property
    def matches(self) -> bool:
        return self.gap is None or abs(self.gap) <= self.tolerance


@dataclass(frozen=True, slots=True)
class PositionsResult:
    rows: tuple[PositionCompare, ...]
    broker_error: str | None
    reconcile: bool  # True when asked as `reconcile` (mismatches are the point)
    cash: CashCompare | None = None

    @property
    def mismatches(self) -> tuple[PositionCompare, ...]:
        return tuple(r for r in self.rows if not r.matches)


@dataclass(frozen=True, slots=True)
class ConfigLine:
    path: str
    short: str | None
    value: str
    source: str
    settable: bool
    allowed: str


@dataclass(frozen=True, slots=True)
class ConfigResult:
    lines: tuple[ConfigLine, ...]


@dataclass(frozen=True, slots=True)
class SlippageResult:
    """count, mean and std cover every fill; p95 and `samples_bps` (the histogram) the most
    recent fills, at most strategy.slippage.SAMPLE_SIZE of them."""

    count: int
    mean_bps: float
    std_bps: float
    p95_bps: float
    samples_bps: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class HelpResult:
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ConfirmRequest:
    """An action waiting for Confirm/Cancel; `nonce` is all a button carries."""

    nonce: str
    kind: str
    title: str
    lines: tuple[str, ...]
    requester: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    name: str
    verdict: str  # "pass" | "fail" | "unknown"
    evidence: str


@dataclass(frozen=True, slots=True)
class ChecklistResult:
    items: tuple[ChecklistItem, ...]

    @property
    def ready(self) -> bool:
        return all(item.verdict == "pass" for item in self.items)


@dataclass(frozen=True, slots=True)
class Done:
    title: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PositionExit:
    symbol: str
    qty_before: int
    filled_qty: int
    avg_price: float | None
    reference_price: float
    slippage_bps: float | None
    remaining: int


@dataclass(frozen=True, slots=True)
class KillReport:
    user: str
    canceled_orders: int
    exits: tuple[PositionExit, ...]
    flat: bool
    elapsed_sec: float
    errors: tuple[str, ...]
    closed_until: float | None = None  # not flat and the market closed: its next open


Result = (
    StatusResult
    | PnlResult
    | PositionsResult
    | ConfigResult
    | SlippageResult
    | HelpResult
    | ConfirmRequest
    | Done
    | KillReport
    | ChecklistResult
)


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Printed when the service stops."""

    duration_sec: float
    bars: int
    signals: int
    orders: int
    fills: int
    refusals: int
    realized: float
    unrealized: float
    commissions: float
    equity: float
    state: TradingState
    latency: tuple[StageStats, ...]
    journal_rows: int
