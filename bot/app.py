"""The composition root: the only place that reads the environment and wires the parts."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.console import Console, open_stdin, stdin_is_readable
from bot.render_text import render_summary, signed_money
from bot.replay_end import CONSOLE, end_of_replay
from bot.slack.surface import SlackSurface
from bot.venues import Venue, build_alpaca, build_sim
from ops import instance_lock, journal_owner, retention
from ops.commands import CommandCore
from ops.config import ConfigError, Settings, config_path, load_settings
from ops.confirm import Confirmations
from ops.errors import StartupError
from ops.health_endpoint import HealthEndpoint
from ops.journal import Journal, start_journal
from ops.journal_owner import JournalOwner
from ops.journal_watch import watch_journal
from ops.monitor import Monitor
from ops.recovery import recover
from ops.retry import read_at_start
from ops.scheduler import Scheduler
from ops.service import TradingService

log = logging.getLogger("tradebot")
TICKER_SEC = 10.0
EXPIRY_SWEEP_SEC = 5.0
MARKET_CLOCK_SEC = 60.0
HEALTH_ENDPOINT = "health-endpoint"  # the incident of an endpoint that could not start


@dataclass(frozen=True, slots=True)
class RunOptions:
    config: str | None = None
    duration: float | None = None
    speed: float | None = None
    data: str | None = None


def open_journal(
    path: Path, env: Mapping[str, str], journal_path: Path, owner: JournalOwner
) -> tuple[Settings, Journal]:
    """Claim the journal for the venue's account (refused, untouched, when it is another's),
    open it, then reload the settings with the operators' persisted overrides."""
    journal_owner.claim(journal_path, owner)
    journal = start_journal(load_settings(path, env=env), journal_path)
    try:
        settings = load_settings(path, overrides=journal.load_overrides(), env=env)
    except ConfigError:
        journal.close()
        raise
    return settings, journal


async def build_venue(settings: Settings, options: RunOptions, env: Mapping[str, str]) -> Venue:
    if settings.get("broker.name") == "alpaca":
        return await build_alpaca(settings, env)
    return await asyncio.to_thread(build_sim, settings, options.data, options.speed)  # reads a CSV


async def serve(options: RunOptions, env: Mapping[str, str]) -> int:
    """Run the service until --duration, a signal, or `quit` at the console; refused while
    another runs on the same journal, or when the journal is another venue's or account's.
    The venue is built first (nothing started: an Alpaca account is only read), since its
    account names the journal."""
    path = config_path(options.config, env)
    file_settings = load_settings(path, env=env)
    venue = await build_venue(file_settings, options, env)
    journal_path = journal_owner.journal_file(file_settings, venue.owner)
    try:
        lock = instance_lock.hold(journal_path)
    except StartupError:
        await venue.stop()
        raise
    try:
        return await _serve(path, journal_path, venue, options, env)
    finally:
        lock.release()


async def _serve(
    path: Path, journal_path: Path, venue: Venue, options: RunOptions, env: Mapping[str, str]
) -> int:
    try:
        settings, journal = open_journal(path, env, journal_path, venue.owner)
    except (StartupError, ConfigError):
        await venue.stop()
        raise
    service = TradingService(
        settings=settings,
        journal=journal,
        broker=venue.broker,
        feed=venue.feed,
        clock=venue.clock,
        starting_cash=venue.starting_cash,
    )
    watch_journal(service)
    venue.hold_feed_while(journal.behind)  # a simulated feed waits for the journal
    venue.report_to(service.alert, service.resolve)
    four_eyes = bool(settings.get("slack.four_eyes"))
    core = CommandCore(service, Confirmations(time.time, four_eyes), time.time)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    scheduler = Scheduler(service)
    schedule_service_jobs(scheduler, service)
    for warning in venue.warnings:
        service.notify(warning)
    await venue.start()
    if venue.recover:
        try:
            await recover_at_start(service, scheduler)
        except StartupError:
            await venue.stop()
            journal.close()
            raise
    await service.start()
    endpoint = await _start_health_endpoint(service)
    surface = await _start_surface(core, scheduler, env, stop)
    if venue.replay:
        service.spawn("replay-end", end_of_replay(service, venue.starting_cash, stop))
    scheduler.start()
    service.spawn("ticker", _ticker(service))
    try:
        await asyncio.wait_for(stop.wait(), timeout=options.duration)
    except TimeoutError:
        log.info("--duration %.0fs elapsed", options.duration)
    scheduler.stop()
    if surface is not None:
        await surface.stop()
    if endpoint is not None:
        await endpoint.stop()
    summary = await service.stop()
    await venue.stop()
    print(render_summary(summary), flush=True)
    return 0


def schedule_service_jobs(scheduler: Scheduler, service: TradingService) -> None:
    """The monitoring jobs every run has (market-clock comes with recovery, the Slack
    surface's with the surface); bench figure 3 counts their broker calls."""
    settings = service.settings
    monitor = Monitor(service)
    scheduler.every("health", settings.number("monitoring.health_check_sec"), monitor.run)
    scheduler.every(
        "reconcile", settings.number("monitoring.reconcile_every_min") * 60, monitor.reconcile
    )
    scheduler.every("drift", settings.number("monitoring.drift_check_min") * 60, monitor.drift)
    scheduler.daily("journal-prune", 4, 30, retention.scheduled(service))  # New York time


async def recover_at_start(service: TradingService, scheduler: Scheduler) -> None:
    """Rebuild the book from the broker and watch its market clock (`tradebot run` and each
    cluster order manager). Every read is retried alike; what still fails is a StartupError."""
    report = await recover(service)
    service.notify("\n".join(report.lines()))
    if report.differences:
        service.alert("startup", "warning", "; ".join(report.lines()[1:]))

    monitor = Monitor(service)
    await read_at_start(service.settings, monitor.market_clock, "Alpaca market clock")
    scheduler.every("market-clock", MARKET_CLOCK_SEC, monitor.market_clock)


async def _start_health_endpoint(service: TradingService) -> HealthEndpoint | None:
    """Its incident (the port taken, at this start or an earlier one) closes once it listens,
    or once it is switched off."""
    port = service.settings.integer("monitoring.health_port")
    if port == 0:
        service.resolve(HEALTH_ENDPOINT, "health endpoint off (monitoring.health_port: 0)")
        return None
    endpoint = HealthEndpoint(service, port)
    try:
        await endpoint.start()
    except OSError as exc:  # the port is taken: say so, keep trading
        service.alert(HEALTH_ENDPOINT, "warning", f"health endpoint not started: {exc}")
        return None
    service.resolve(HEALTH_ENDPOINT, f"health endpoint listening on port {endpoint.port}")
    return endpoint


async def _start_surface(
    core: CommandCore, scheduler: Scheduler, env: Mapping[str, str], stop: asyncio.Event
) -> SlackSurface | None:
    """Slack when both tokens are set; otherwise the terminal console (if there is one)."""
    bot_token, app_token = env.get("SLACK_BOT_TOKEN"), env.get("SLACK_APP_TOKEN")
    if bot_token and app_token:
        surface = SlackSurface(core, bot_token, app_token)
        surface.schedule(scheduler)
        await surface.start()
        return surface
    if bot_token or app_token:
        log.warning("only one of SLACK_BOT_TOKEN / SLACK_APP_TOKEN is set: using the console")

    async def expire() -> None:
        core.expire()

    scheduler.every("confirm-expiry", EXPIRY_SWEEP_SEC, expire)
    if stdin_is_readable():
        core.service.spawn(CONSOLE, _console(core, stop))
    return None


async def _console(core: CommandCore, stop: asyncio.Event) -> None:
    interactive = sys.stdin.isatty()  # asked now: at end of input the pipe closes stdin
    reader = await open_stdin()
    quit_asked = await Console(core, reader, sys.stdout).run()
    if quit_asked or interactive:
        stop.set()


async def _ticker(service: TradingService) -> None:
    """A one-line status in the log, so a run without a terminal shows progress."""
    while True:
        await asyncio.sleep(TICKER_SEC)
        c = service.engine.counters
        log.info(
            "%s  equity %s  day %s  positions %d  bars %d  signals %d  fills %d  refusals %d",
            service.gate.state,
            f"${service.book.equity():,.2f}",
            signed_money(service.book.equity() - service.book.day_start_equity()),
            len(service.book.positions()),
            c.bars,
            c.signals,
            c.fills,
            c.refusals + c.broker_rejects,
        )
