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
from ops.commands import CommandCore
from ops.config import ConfigError, Settings, load_settings
from ops.confirm import Confirmations
from ops.journal import Journal
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
    db_path = Path(str(base.get("journal.path")))
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
            starting_cash=float(settings.get("broker.starting_cash")),  # type: ignore[arg-type]
            slippage_bps=float(settings.get("broker.slippage_bps")),  # type: ignore[arg-type]
            commission_per_share=float(settings.get("broker.commission_per_share")),  # type: ignore[arg-type]
            partial_fill_prob=float(settings.get("broker.partial_fill_prob")),  # type: ignore[arg-type]
            seed=int(settings.get("broker.seed")),  # type: ignore[call-overload]
        ),
        clock,
    )
    data = options.data if options.data is not None else str(settings.get("sim.data"))
    bar_sec = int(settings.get("sim.bar_sec"))  # type: ignore[call-overload]
    if data:
        if not Path(data).is_file():
            raise StartupError(f"sim.data: no such file {data!r}")
        source = csv_bars(data)
    else:
        source = synthetic_bars(
            settings.symbols,
            int(settings.get("broker.seed")),
            start,
            bar_sec=bar_sec,  # type: ignore[call-overload]
        )
    speed = options.speed if options.speed is not None else float(settings.get("sim.speed"))  # type: ignore[arg-type]
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
    if env.get("SLACK_BOT_TOKEN") and env.get("SLACK_APP_TOKEN"):
        log.warning("Slack tokens are set, but the Slack surface is not built yet: console only")
    service = TradingService(
        settings=settings,
        journal=journal,
        broker=broker,
        feed=feed,
        clock=clock,
        starting_cash=float(settings.get("broker.starting_cash")),  # type: ignore[arg-type]
    )
    core = CommandCore(
        service, Confirmations(time.time, bool(settings.get("slack.four_eyes"))), time.time
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    service.spawn("ticker", _ticker(service))
    service.spawn("confirm-expiry", _sweep_expired(core))
    if stdin_is_readable():
        service.spawn("console", _console(core, stop))
    try:
        await asyncio.wait_for(stop.wait(), timeout=options.duration)
    except TimeoutError:
        log.info("--duration %.0fs elapsed", options.duration)
    summary = await service.stop()
    print(render_summary(summary), flush=True)
    return 0


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


async def _sweep_expired(core: CommandCore) -> None:
    while True:
        await asyncio.sleep(EXPIRY_SWEEP_SEC)
        core.expire()
