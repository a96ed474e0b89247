"""The parts of an account an order manager uses, each as the narrow view it needs; composed
with the account's service (bot/oms_cli.py), so the order manager reaches into none of them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from ops.journal.access import JournalAccess
from ops.safety.kill_switch import KillSwitch
from ops.safety.trading_state import StateControl
from ops.service.incidents import IncidentReporter
from strategy.clock import Clock
from strategy.intake import IntentIntake, OrderLedger
from strategy.types import OrderUpdate
from strategy.venue import Broker

Spawn = Callable[[str, Coroutine[Any, Any, Any]], asyncio.Task[Any]]


@dataclass(frozen=True, slots=True)
class AccountParts:
    intake: IntentIntake  # the engine
    ledger: OrderLedger  # the book
    trading: StateControl
    kill_switch: KillSwitch
    broker: Broker
    journal: JournalAccess
    incidents: IncidentReporter
    clock: Clock
    spawn: Spawn  # a named background task, its failure reported
    # every order update, once the book has it, goes to the callback given here
    announce_updates: Callable[[Callable[[OrderUpdate], None]], None]
