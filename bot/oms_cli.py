"""`tradebot oms --account NAME`: the order manager of one account (cluster role).

The ordinary service composition (journal, book, risk gate, broker sim|alpaca, kill switch,
start-up recovery, trading state) with its bars from NATS (marks only) and its orders from the
account's intents. Heavy imports (nats, the service, alpaca-py) happen inside `serve`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cluster_role import add_role_parser, connect

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.aio.subscription import Subscription
    from nats.js import JetStreamContext

    from bot.venues import Venue
    from ops.cluster.control import ControlPlane
    from ops.cluster.oms import OrderManager
    from ops.config import Settings
    from ops.results import RunSummary
    from ops.scheduler import Scheduler
    from ops.service import TradingService

log = logging.getLogger("tradebot.oms")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    oms = add_role_parser(sub, "oms", "cluster role: the order manager of one account", serve)
    oms.add_argument("--account", required=True, help="an account from cluster.accounts")


async def serve(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Until --duration, SIGINT/SIGTERM, or a lost lease (exit 1)."""
    from ops.config import config_path

    account, duration = args.account, args.duration
    stop = asyncio.Event()  # before the start: a SIGTERM while starting is a clean stop too
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    running = await start_oms(account, config_path(args.config, env), env)
    lease = running.oms.lease
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lease.lost.wait())]
    await asyncio.wait(waits, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waits:
        waiter.cancel()
    summary = await running.stop()
    lost = f"; lease lost: {lease.lost_reason}" if lease.lost.is_set() else ""
    log.info(
        "order manager of %s stopped: %d intents taken, %d orders, %d fills%s",
        account,
        running.oms.taken,
        summary.orders,
        summary.fills,
        lost,
    )
    return 1 if lost else 0


@dataclass
class RunningOms:
    oms: OrderManager
    service: TradingService
    venue: Venue
    nc: NATS
    control: ControlPlane
    commands: Subscription
    scheduler: Scheduler

    async def stop(self) -> RunSummary:
        self.scheduler.stop()
        await self.commands.unsubscribe()
        await self.control.stop()
        await self.oms.stop()
        summary = await self.service.stop()
        await self.venue.stop()
        await self.oms.lease.release()
        await self.nc.close()
        return summary


async def start_oms(account: str, config: Path, env: Mapping[str, str]) -> RunningOms:
    """The lease first: a second order manager of the account is refused (LeaseHeld, a
    StartupError: exit 2) before it touches the broker or the intents."""
    from bot.app import open_journal, recover_at_start
    from ops.cluster.commands import serve_commands
    from ops.cluster.config import cluster_config
    from ops.cluster.control import ControlPlane, ControlView
    from ops.cluster.lease import Lease, holder_name
    from ops.cluster.oms import OrderManager
    from ops.cluster.streams import ensure_streams, leases_bucket
    from ops.cluster.subjects import component_key, lease_key
    from ops.commands import CommandCore
    from ops.confirm import Confirmations
    from ops.scheduler import Scheduler
    from ops.service import TradingService

    settings, journal = open_journal(config, env)
    nc = None
    lease = None
    try:
        cfg = cluster_config(settings)
        cfg.check_account(account)
        nc = await connect(cfg, env, name=component_key("oms", account))
        js = nc.jetstream()
        await ensure_streams(js, cfg)
        held = Lease(
            await leases_bucket(js, cfg),
            lease_key(account),
            holder_name(component_key("oms", account)),
            cfg.lease_ttl_sec,
        )
        await held.acquire()
        lease = held
        venue = await _venue(settings, env, js)
    except BaseException:
        journal.close()
        if lease is not None:
            await lease.release()
        if nc is not None:
            await nc.close()
        raise
    service = TradingService(
        settings=settings,
        journal=journal,
        broker=venue.broker,
        feed=venue.feed,
        clock=venue.clock,
        starting_cash=venue.starting_cash,
    )
    venue.report_to(service.alert, service.resolve)
    oms = OrderManager(js, cfg, account, service, lease)
    control = ControlPlane(js, cfg, "oms", account, account)

    async def obey(view: ControlView) -> None:
        if await oms.obey(view):
            await control.acknowledge(*view.revisions)

    scheduler = Scheduler(service)
    await venue.start()
    if venue.recover:
        try:
            await recover_at_start(service, scheduler)
        except BaseException:
            await venue.stop()
            journal.close()
            await lease.release()
            await nc.close()
            raise
    await service.start()
    scheduler.start()
    await oms.start()
    await control.start(obey)
    core = CommandCore(
        service, Confirmations(time.time, bool(settings.get("slack.four_eyes"))), time.time
    )
    commands = await serve_commands(nc, account, core)
    running = RunningOms(oms, service, venue, nc, control, commands, scheduler)
    log.info("order manager of %s running (%s)", account, service.venue_label)
    return running


async def _venue(settings: Settings, env: Mapping[str, str], js: JetStreamContext) -> Venue:
    """The configured broker; the bars are NATS marks (the simulator's clock and fills follow
    them)."""
    from bot.venues import Venue, build_alpaca, sim_broker
    from ops.cluster.marks import NatsMarks
    from strategy.clock import ManualClock
    from strategy.market_day import session_open
    from strategy.types import Bar

    if settings.get("broker.name") == "alpaca":
        venue = await build_alpaca(settings, env)
        venue.feed = NatsMarks(js)
        return venue
    clock = ManualClock(start=session_open(time.time()))
    broker = sim_broker(settings, clock)
    bar_sec = settings.integer("sim.bar_sec")

    first = True

    def follow(bar: Bar) -> None:
        """Market time is the bars' own, a replayed past day's too: the first bar sets it."""
        nonlocal first
        if first:
            first = False
            clock.jump(bar.ts + bar_sec)
        else:
            clock.set(bar.ts + bar_sec)

    feed = NatsMarks(js, observers=[follow, broker.on_bar])
    return Venue(broker, feed, clock, settings.number("broker.starting_cash"))
