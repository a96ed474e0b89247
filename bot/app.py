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
from bot.slack.surface import SlackSurface
from ops.commands import CommandCore
from ops.config import ConfigError, Settings, load_settings
from ops.confirm import Confirmations
from ops.health import run_checks
from ops.journal import Journal
from ops.scheduler import Scheduler
from ops.service import TradingService
from strategy.clock import ManualClock
from strategy.market_day import session_open
from strategy.venues.bars import BarDataError, csv_bars, synthetic_bars
from strategy.venues.sim import SimBroker, SimSettings
from strategy.venues.sim_feed import SimFeed

log = logging.getLogger("tradebot")
TICKER_SEC = 10.0
EXPIRY_SWEEP_SEC = 5.0


class StartupError(Exception):
    """Start-up refused with a message for the operator (bad config, missing data...)."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    config: str | None = None
    duration: float | None = None
    speed: float | None = None
    data: str | None = None


def config_path(arg: str | None, env: Mapping[str, str]) -> Path:
    return Path(arg or env.get("TRADEBOT_CONFIG") or "config.yaml")


def open_journal(path: Path, env: Mapping[str, str]) -> tuple[Settings, Journal]:
    """Load the file, open its journal, then reload with the operators' persisted overrides."""
    base = load_settings(path, env=env)
    db_path = Path(base.text("journal.path"))
    db_path.parent.mkdir(parents=True, exist_ok=True)
    journal = Journal(db_path)
    journal.start()
    try:
        settings = load_settings(path, overrides=journal.load_overrides(), env=env)
    except ConfigError:
        journal.close()
        raise
    return settings, journal


def build_sim(settings: Settings, options: RunOptions) -> tuple[SimBroker, SimFeed, ManualClock]:
    start = session_open(time.time())
    clock = ManualClock(start=start)
    broker = SimBroker(
        SimSettings(
            starting_cash=settings.number("broker.starting_cash"),
            slippage_bps=settings.number("broker.slippage_bps"),
            commission_per_share=settings.number("broker.commission_per_share"),
            partial_fill_prob=settings.number("broker.partial_fill_prob"),
            seed=settings.integer("broker.seed"),
        ),
        clock,
    )
    data = options.data if options.data is not None else settings.text("sim.data")
    bar_sec = settings.integer("sim.bar_sec")
    if data:
        if not Path(data).is_file():
            raise StartupError(f"sim.data: no such file {data!r}")
        source = csv_bars(data)
    else:
        source = synthetic_bars(settings.symbols, settings.integer("broker.seed"), start, bar_sec)
    speed = options.speed if options.speed is not None else settings.number("sim.speed")
    feed = SimFeed(source, clock, observers=[broker.on_bar], speed=speed or None, bar_sec=bar_sec)
    return broker, feed, clock


async def serve(options: RunOptions, env: Mapping[str, str]) -> int:
    """Run the service until --duration, a signal, or `quit` at the console."""
    settings, journal = open_journal(config_path(options.config, env), env)
    try:
        if settings.get("broker.name") != "sim":
            raise StartupError(
                "broker.name: alpaca is not available yet (the Alpaca venue is still to be "
                "built); set broker.name: sim"
            )
        broker, feed, clock = build_sim(settings, options)
    except (StartupError, BarDataError):
        journal.close()
        raise
    service = TradingService(
        settings=settings,
        journal=journal,
        broker=broker,
        feed=feed,
        clock=clock,
        starting_cash=settings.number("broker.starting_cash"),
    )
    core = CommandCore(
        service, Confirmations(time.time, bool(settings.get("slack.four_eyes"))), time.time
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    scheduler = Scheduler(service)
    scheduler.every(
        "health", settings.number("monitoring.health_check_sec"), lambda: run_checks(service)
    )
    await service.start()
    surface = await _start_surface(core, scheduler, env, stop)
    scheduler.start()
    service.spawn("ticker", _ticker(service))
    try:
        await asyncio.wait_for(stop.wait(), timeout=options.duration)
    except TimeoutError:
        log.info("--duration %.0fs elapsed", options.duration)
    scheduler.stop()
    if surface is not None:
        await surface.stop()
    summary = await service.stop()
    print(render_summary(summary), flush=True)
    return 0


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
        core.service.spawn("console", _console(core, stop))
    return None


async def _console(core: CommandCore, stop: asyncio.Event) -> None:
    reader = await open_stdin()
    quit_asked = await Console(core, reader, sys.stdout).run()
    if quit_asked or sys.stdin.isatty():
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
