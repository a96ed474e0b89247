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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cluster_role import add_role_parser
from ops.cluster.connection import connect

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.aio.subscription import Subscription
    from nats.js import JetStreamContext

    from bot.venues import Venue
    from ops.cluster.control import ControlPlane
    from ops.cluster.incidents import IncidentPublisher
    from ops.cluster.marks import NatsMarks
    from ops.cluster.oms import OrderManager
    from ops.cluster.params import ParamsFollower
    from ops.cluster.resume import Reconnects
    from ops.config.settings import Settings
    from ops.safety.instance_lock import InstanceLock
    from ops.service.service import TradingService
    from ops.shared.results import RunSummary
    from ops.watch.safety_net import SafetyNet

log = logging.getLogger("tradebot.oms")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    oms = add_role_parser(sub, "oms", "cluster role: the order manager of one account", serve)
    oms.add_argument("--account", required=True, help="an account from cluster.accounts")


async def serve(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Until --duration, SIGINT/SIGTERM, or the lease taken by another order manager (exit 2,
    naming it). A NATS outage ends nothing: without a renewed lease nothing is sent."""
    import gc

    from ops.config.settings import config_path

    account, duration = args.account, args.duration
    stop = asyncio.Event()  # before the start: a SIGTERM while starting is a clean stop too
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    running = await start_oms(account, config_path(args.config, env), env)
    # What is built by now (the modules, the service) is left out of every collection: each
    # full one had scanned it again, 130-270 ms on the event loop amid a minute's orders.
    gc.freeze()
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
    return 2 if lost else 0


@dataclass
class RunningOms:
    oms: OrderManager
    service: TradingService
    venue: Venue
    nc: NATS
    control: ControlPlane
    commands: Subscription
    net: SafetyNet
    lock: InstanceLock
    params: ParamsFollower
    incidents: IncidentPublisher

    async def stop(self) -> RunSummary:
        await self.incidents.stop()  # e.g. a lost lease's incident, before the tasks end
        await self.net.stop()
        await self.commands.unsubscribe()
        await self.params.stop()
        await self.control.stop()
        await self.oms.stop()
        summary = await self.service.stop()
        await self.venue.stop()
        await self.oms.lease.release()
        await self.nc.close()
        self.lock.release()
        return summary


async def start_oms(
    account: str,
    config: Path,
    env: Mapping[str, str],
    lease_clock: Callable[[], float] = time.monotonic,
) -> RunningOms:
    """The lease first: a second order manager of the account is refused (LeaseHeld, a
    StartupError: exit 2) before it touches the broker or the intents. Then the venue (an
    Alpaca account is only read): its account names the journal, which is refused when it is
    another account's or a service runs on it. `lease_clock` is the monotonic clock the
    lease's proof is read by (tests step it)."""
    from bot.app import open_journal
    from ops.cluster.account_parts import AccountParts
    from ops.cluster.commands import serve_commands
    from ops.cluster.config import cluster_config
    from ops.cluster.control import ControlPlane, ControlView
    from ops.cluster.incidents import IncidentPublisher
    from ops.cluster.lease import Lease, holder_name
    from ops.cluster.oms import OrderManager
    from ops.cluster.params import load_account_params, publish_params
    from ops.cluster.resume import Reconnects
    from ops.cluster.streams import ensure_streams, leases_bucket
    from ops.cluster.subjects import component_key, lease_key
    from ops.cluster.takeover import journal_in_flight
    from ops.config.settings import load_settings
    from ops.control.commands import CommandCore
    from ops.control.confirm import Confirmations
    from ops.journal.owner import journal_file
    from ops.safety import instance_lock

    settings = load_settings(config, env=env)  # the journal's overrides come with the journal
    nc = lease = venue = lock = None
    reconnects = Reconnects()
    try:
        cfg = cluster_config(settings)
        cfg.check_account(account)
        nc = await connect(cfg, env, component_key("oms", account), reconnects)
        js = nc.jetstream()
        await ensure_streams(js, cfg)
        held = Lease(
            await leases_bucket(js, cfg),
            lease_key(account),
            holder_name(component_key("oms", account)),
            cfg.lease_ttl_sec,
            lease_clock,
        )
        await held.acquire()
        lease = held
        venue, marks = await _venue(settings, env, js, account, reconnects)
        journal_path = journal_file(settings, venue.owner)
        lock = instance_lock.hold(journal_path)  # a `tradebot run` on the same account too
        settings, journal = open_journal(config, env, journal_path, venue.owner)
    except BaseException:
        if lock is not None:
            lock.release()
        if venue is not None:
            await venue.stop()
        if lease is not None:
            await lease.release()
        if nc is not None:
            await nc.close()
        raise
    composed = venue.account(settings, journal, decides=False)  # as `tradebot run` composes
    service, net = composed.service, composed.net
    marks.price(service.book)  # every close a last price; bars on only for what it trades
    incidents = IncidentPublisher(nc, "oms", account, account, service.acknowledge)
    service.add_alert_sink(incidents)  # the gateway posts them in Slack
    service.kill_switch.outcome_listeners.append(incidents.kill_outcome)
    parts = AccountParts(
        intake=service.engine,
        ledger=service.book,
        trading=service.trading,
        kill_switch=service.kill_switch,
        broker=service.broker,
        journal=service.journal,
        incidents=service.incidents,
        clock=service.clock,
        spawn=service.spawn,
        announce_updates=service.announce_updates,
    )
    oms = OrderManager(js, cfg, account, parts, lease)
    control = ControlPlane(js, cfg, "oms", account, account, reconnects=reconnects)

    async def obey(view: ControlView) -> None:
        incidents.follow_control(view)
        if await oms.obey(view):
            await control.acknowledge(*view.revisions)

    await venue.start()
    try:
        params = await load_account_params(js, cfg, account, service, service.journal)  # in force
        if venue.recover:
            # before recovery reads the broker
            await journal_in_flight(js, account, service.journal, service.broker)
        await net.start(recover=venue.recover)
    except BaseException:
        await venue.stop()
        journal.close()
        lock.release()
        await lease.release()
        await nc.close()
        raise
    await incidents.start(service.spawn)
    confirmations = Confirmations(time.time, bool(settings.get("slack.four_eyes")))
    # a `set` through the gateway is previewed as `tradebot run`'s is
    core = CommandCore(composed.control, confirmations, time.time, venue.history)

    async def publish(by: str, apply_open: bool) -> int:
        return await publish_params(js, cfg, account, service.settings, by, apply_open)

    # commands are answered before the first heartbeat: the gateway that sees this order
    # manager can ask it at once (a `set` right after its start found no one answering)
    commands = await serve_commands(nc, account, core, publish)
    await control.start(obey)  # a kill or pause in force applies before the first intent
    await oms.start()
    await params.follow(control)
    running = RunningOms(oms, service, venue, nc, control, commands, net, lock, params, incidents)
    log.info("order manager of %s running (%s)", account, service.venue_label)
    return running


async def _venue(
    settings: Settings,
    env: Mapping[str, str],
    js: JetStreamContext,
    account: str,
    reconnects: Reconnects,
) -> tuple[Venue, NatsMarks]:
    """The configured broker; the bars are NATS marks (the simulator's clock, quotes and fills
    follow them). A simulated account is the cluster's own, with a journal of its own."""
    from bot.venues import Venue, build_alpaca, sim_broker
    from ops.backtest.sessions import RecentSessions
    from ops.cluster.marks import NatsMarks
    from ops.journal.owner import JournalOwner
    from strategy.clock import ManualClock
    from strategy.market_day import session_open
    from strategy.types import Bar

    bar_sec = settings.integer("sim.bar_sec")
    if settings.get("broker.name") == "alpaca":
        venue = await build_alpaca(settings, env)
        venue.feed = marks = NatsMarks(js, bar_sec, reconnects=reconnects)
        return venue, marks
    clock = ManualClock(start=session_open(time.time()))
    broker = sim_broker(settings, clock)

    first = True

    def follow(bar: Bar) -> None:
        """Market time is the bars' own, a replayed past day's too: the first bar sets it."""
        nonlocal first
        if first:
            first = False
            clock.jump(bar.ts + bar_sec)
        else:
            clock.set(bar.ts + bar_sec)

    recent = RecentSessions(settings.integer("confirm.preview_sessions"), bar_sec)
    marks = NatsMarks(
        js,
        bar_sec,
        observers=[follow, broker.on_bar],
        quotes=[broker.mark],
        reconnects=reconnects,
        recorders=[recent.observe],  # every symbol's bars, as the simulator's feed records them
    )
    cash = settings.number("broker.starting_cash")
    owner = JournalOwner("cluster", account)
    return Venue(broker, marks, clock, cash, owner, history=recent), marks
