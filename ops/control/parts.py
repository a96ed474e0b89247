"""What the control of trading (the command core, its queries, parameter changes and the
checklist, and the surfaces that render them) is handed of an account: each part as the narrow
view it needs, composed once with the account's service (bot/account.py `control_parts`), so
nothing here reaches into the service."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ops.config.settings import Settings
from ops.journal.journal import Journal
from ops.safety.seen import Seen
from ops.safety.trading_state import StateControl
from ops.service.adoption import Adopted
from ops.service.broker_facing import BrokerFacing
from ops.service.incidents import AlertSink, IncidentReporter
from ops.shared.results import CheckResult, KillReport
from strategy.book import Book
from strategy.clock import Clock
from strategy.engine_outputs import EngineProgress
from strategy.latency import StageStats
from strategy.venue import Broker

Spawn = Callable[[str, Coroutine[Any, Any, Any]], asyncio.Task[Any]]
Adopt = Callable[[str, int, float, str, float | None], Adopted]  # symbol, qty, avg, user, price


class TradingControl(StateControl, Protocol):
    """The trading state as commands see it (TradingStateOwner): whether it changed since a
    count was taken, and whether the pause in force is the dead-man's."""

    @property
    def changes(self) -> int: ...

    @property
    def paused_by_deadman(self) -> bool: ...


class IncidentDesk(IncidentReporter, Protocol):
    """The account's incidents as operators handle them (Incidents): listed, acknowledged,
    and posted to a surface's sink."""

    @property
    def open(self) -> Mapping[str, str]: ...  # key -> latest message

    def all(self) -> dict[str, tuple[str, str]]: ...  # key -> (severity, latest message)

    def acknowledge(self, key: str, user: str) -> bool: ...

    def add_sink(self, sink: AlertSink) -> None: ...


class KillControl(Protocol):
    """The kill switch (KillSwitch) as commands use it: a kill, and whether a resume asked
    on what was `seen` may go ahead."""

    async def kill(self, user: str, source: str) -> KillReport: ...

    def seen(self) -> Seen: ...

    async def resume_refusal(self, seen: Seen | None) -> str | None: ...


class OrdersToday(Protocol):
    """The risk gate's count of the day's orders."""

    @property
    def orders_today(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ControlParts:
    settings: Callable[[], Settings]  # those in force
    apply_settings: Callable[[Settings, bool], None]  # the new settings; open positions too
    journal: Journal
    book: Book
    clock: Clock
    symbols: tuple[str, ...]  # the configured ones: the strategy's
    trading: TradingControl
    gate: OrdersToday
    progress: Callable[[], EngineProgress]  # the engine's counters and stamps
    latency: Callable[[], list[StageStats]]  # per stage, those measured so far
    checks: Callable[[], Mapping[str, CheckResult]]  # the monitor's latest, per check
    kill_switch: KillControl
    kill_file: Callable[[], Path]
    incidents: IncidentDesk
    spawn: Spawn  # a named background task, its failure reported
    broker: Callable[[], Broker]  # the account's, read at each use as broker_facing reads it
    broker_facing: Callable[[], BrokerFacing]  # what reconcile reads and restores
    adopt_position: Adopt
