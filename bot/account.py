"""One account composed in one place (bot.venues.Venue.account, for `tradebot run` and each
order manager): its trading service, the narrow views of its parts the watchers and the
command core are handed, and the safety net built on the watchers' view."""

from __future__ import annotations

from dataclasses import dataclass

from ops.control.parts import ControlParts
from ops.service.service import TradingService
from ops.watch.parts import WatchedParts
from ops.watch.safety_net import SafetyNet


@dataclass(frozen=True, slots=True)
class Account:
    """The trading service and its safety net, never one alone."""

    service: TradingService
    watched: WatchedParts
    control: ControlParts
    net: SafetyNet


def compose(service: TradingService) -> Account:
    """On the event loop, right after the service is built."""
    watched = watched_parts(service)
    return Account(service, watched, control_parts(service), SafetyNet(watched, service.start))


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


def control_parts(service: TradingService) -> ControlParts:
    """What the command core and its surfaces are handed of a composed account (`tradebot
    run`'s and each order manager's)."""
    return ControlParts(
        settings=lambda: service.settings,
        apply_settings=service.apply_settings,
        journal=service.journal,
        book=service.book,
        clock=service.clock,
        symbols=service.engine.symbols,
        trading=service.trading,
        gate=service.gate,
        progress=service.engine.progress,
        latency=service.latency.summary,
        checks=lambda: service.checks,
        kill_switch=service.kill_switch,
        kill_file=lambda: service.kill_file,
        incidents=service.incidents,
        spawn=service.spawn,
        broker=lambda: service.broker,
        broker_facing=service.broker_facing,
        adopt_position=service.adopt_position,
    )
