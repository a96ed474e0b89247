"""What the watchers (the monitor's checks and dead-man, the health endpoint, the journal's
health, a replay's end) need of an account: each part as the narrow view they read, or the
one thing they may do to it. Composed once with the account (bot/account.py), so nothing
here reaches into the trading service."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ops.config.settings import Settings
from ops.journal.journal import Journal
from ops.safety.kill_switch import KillSwitchStatus
from ops.service.broker_facing import BrokerFacing
from ops.shared.results import CheckResult
from strategy.book_records import Position
from strategy.clock import Clock
from strategy.engine_outputs import EngineProgress
from strategy.latency import StageStats
from strategy.risk import Denial, RiskView
from strategy.types import Account, MarketClock, TradingState


class BarStamps(Protocol):
    """The feed: when its newest bar came."""

    @property
    def last_bar_ts(self) -> float | None: ...


class EngineWatch(Protocol):
    """The engine: its counters and stamps, and waiting until its order updates are in."""

    def progress(self) -> EngineProgress: ...

    async def drain(self) -> None: ...


class GateWatch(Protocol):
    """The risk gate: the market hours it trades (set from the broker's clock), today's
    orders, and the daily-loss limit on marks alone."""

    market_open: bool

    @property
    def orders_today(self) -> int: ...

    def check_daily_loss(self, view: RiskView) -> Denial | None: ...


class BookWatch(RiskView, Protocol):
    def drawdown(self) -> float: ...

    def positions(self) -> list[Position]: ...


class LatencyWatch(Protocol):
    def summary(self) -> list[StageStats]: ...


class BrokerWatch(Protocol):
    async def account(self) -> Account: ...

    async def clock(self) -> MarketClock: ...


class StateWatch(Protocol):
    """The trading state's owner (TradingStateOwner): read, and the dead-man's and the risk
    limits' changes, made through it."""

    @property
    def state(self) -> TradingState: ...

    @property
    def reason(self) -> str: ...

    @property
    def paused_by_deadman(self) -> bool: ...

    def change(self, state: TradingState, reason: str, by: str) -> None: ...

    def risk_breach(self, reason: str) -> None: ...


class IncidentDesk(Protocol):
    """The account's incidents (ops.service.incidents.Incidents)."""

    @property
    def open(self) -> Mapping[str, str]: ...  # key -> latest message

    def alert(self, key: str, severity: str, message: str) -> None: ...

    def resolve(self, key: str, message: str) -> None: ...

    def notify(self, message: str) -> None: ...

    def report_error(self, where: str, exc: BaseException) -> None: ...


class KillWatch(Protocol):
    def status(self) -> KillSwitchStatus: ...


class RunWatch(Protocol):
    """The service's own running: its engine task, the end of its feed, its tasks."""

    started_at: float  # monotonic

    @property
    def feed_done(self) -> asyncio.Event: ...  # set when the feed ran out

    @property
    def feed_ended(self) -> bool: ...

    @property
    def engine_running(self) -> bool: ...

    def running(self, name: str) -> asyncio.Task[Any] | None: ...


@dataclass(frozen=True, slots=True)
class WatchedParts:
    settings: Callable[[], Settings]  # those in force
    clock: Clock
    feed: BarStamps
    engine: EngineWatch
    gate: GateWatch
    book: BookWatch
    latency: LatencyWatch
    broker: BrokerWatch
    trading: StateWatch
    incidents: IncidentDesk
    journal: Journal
    kill_switch: KillWatch
    broker_facing: BrokerFacing  # reconcile's
    run: RunWatch
    checks: dict[str, CheckResult]  # the latest result per check key, as `/trade status` shows
