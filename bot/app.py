"""The composition root: the only place that reads the environment and wires the parts."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.console import Console, open_stdin, stdin_is_readable
from bot.render_text import render_summary
from bot.replay_end import CONSOLE, end_of_replay
from bot.slack import tokens as slack_tokens
from bot.slack.surface import SlackSurface
from bot.venues import Venue, build_alpaca, build_sim
from ops.config.settings import ConfigError, Settings, config_path, load_settings
from ops.control.commands import CommandCore
from ops.control.confirm import Confirmations
from ops.journal import owner as journal_owner
from ops.journal.journal import Journal, start_journal
from ops.journal.owner import JournalOwner
from ops.safety import instance_lock
from ops.shared.errors import StartupError
from ops.shared.formatting import money, signed_money
from ops.watch.parts import WatchedParts
from ops.watch.scheduler import Scheduler

log = logging.getLogger("tradebot")
TICKER_SEC = 10.0
EXPIRY_SWEEP_SEC = 5.0


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
    slack_tokens.check(env.get(slack_tokens.BOT_VARIABLE), env.get(slack_tokens.APP_VARIABLE))
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
    composed = venue.account(settings, journal)  # as `tradebot oms` composes its own
    service, net = composed.service, composed.net
    venue.hold_feed_while(journal.behind)  # a simulated feed waits for the journal
    four_eyes = bool(settings.get("slack.four_eyes"))
    confirmations = Confirmations(time.time, four_eyes)
    core = CommandCore(composed.control, confirmations, time.time, venue.history)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    for warning in venue.warnings:
        service.notify(warning)
    await venue.start()
    try:
        await net.start(recover=venue.recover)
    except StartupError:
        await venue.stop()
        journal.close()
        raise
    surface = await _start_surface(core, net.scheduler, env, stop)
    if venue.replay:
        service.spawn("replay-end", end_of_replay(composed.watched, venue.starting_cash, stop))
    service.spawn("ticker", _ticker(composed.watched))
    try:
        await asyncio.wait_for(stop.wait(), timeout=options.duration)
    except TimeoutError:
        log.info("--duration %.0fs elapsed", options.duration)
    await net.stop()
    if surface is not None:
        await surface.stop()
    summary = await service.stop()
    await venue.stop()
    try:
        print(render_summary(summary), flush=True)
    except BrokenPipeError:  # nobody reads it (`tradebot run | head`): not a failed run
        discard_stdout()
    return 0


def discard_stdout() -> None:
    """Whatever is still written to stdout, including the interpreter's last flush, goes
    nowhere instead of failing on a pipe whose reader has gone."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


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
        core.spawn(CONSOLE, _console(core, stop))
    return None


async def _console(core: CommandCore, stop: asyncio.Event) -> None:
    interactive = sys.stdin.isatty()  # asked now: at end of input the pipe closes stdin
    reader = await open_stdin()
    console = Console(core, reader, sys.stdout)
    quit_asked = await console.run()
    if console.output_closed:
        discard_stdout()
    if quit_asked or interactive:
        stop.set()


async def _ticker(parts: WatchedParts) -> None:
    """A one-line status in the log, so a run without a terminal shows progress."""
    book = parts.book
    while True:
        await asyncio.sleep(TICKER_SEC)
        c = parts.engine.progress().counters
        log.info(
            "%s  equity %s  day %s  positions %d  bars %d  signals %d  fills %d  refusals %d",
            parts.trading.state,
            money(book.equity()),
            signed_money(book.equity() - book.day_start_equity()),
            len(book.positions()),
            c.bars,
            c.signals,
            c.fills,
            c.refusals + c.broker_rejects,
        )
