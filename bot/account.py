"""One account composed in one place (bot.venues.Venue.account, for `tradebot run` and each
order manager): its trading service, the watchers' narrow view of its parts, and the safety
net built on that view."""

from __future__ import annotations

from dataclasses import dataclass

from ops.service.service import TradingService
from ops.watch.parts import WatchedParts
from ops.watch.safety_net import SafetyNet


@dataclass(frozen=True, slots=True)
class Account:
    """The trading service and its safety net, never one alone."""

    service: TradingService
    watched: WatchedParts
    net: SafetyNet


def compose(service: TradingService) -> Account:
    """On the event loop, right after the service is built."""
    watched = watched_parts(service)
    return Account(service, watched, SafetyNet(watched, service.start))


def watched_parts(service: TradingService) -> WatchedParts:
    """The parts of the service the watchers read, each as its narrow view."""
    return WatchedParts(
        settings=lambda: service.settings,  # replaced whole by each applied change
        clock=service.clock,
        feed=service.feed,
        engine=service.engine,
        gate=service.gate,
        book=service.book,
        latency=service.latency,
        broker=service.broker,
        trading=service.trading,
        incidents=service.incidents,
        journal=service.journal,
        kill_switch=service.kill_switch,
        broker_facing=service.broker_facing(),
        run=service,
        checks=service.checks,
    )
