"""What start-up recovery, reconcile and the operator's open orders need of an account: the
parts that face the broker, handed over by the service that holds them
(TradingService.broker_facing), and nothing else of it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ops.config.settings import Settings
from ops.journal.journal import Journal
from strategy.book import Book
from strategy.clock import Clock
from strategy.venue import Broker


@dataclass(frozen=True, slots=True)
class BrokerFacing:
    broker: Broker
    journal: Journal
    book: Book
    clock: Clock
    symbols: tuple[str, ...]  # the configured ones: the strategy's
    settings: Callable[[], Settings]  # those in force (retries, commission)
    alert: Callable[[str, str, str], None]  # key, severity, message
    resolve: Callable[[str, str], None]  # key, message
    open_alerts: Mapping[str, str]  # the open incidents: key -> latest message
