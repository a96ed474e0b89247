"""`tradebot ingest`: bars from the simulated feed (synthetic, or --data CSV) or, with
broker.name alpaca, the Alpaca data stream, onto the bar stream."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Mapping

from bot.cluster_role import add_role_parser, run_until_stopped
from ops.cluster.connection import connect
from ops.config.settings import Settings, config_path, load_settings
from ops.shared.errors import StartupError

log = logging.getLogger("tradebot")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ingest = add_role_parser(
        sub, "ingest", "cluster: publish bars (simulator or Alpaca) to NATS", serve
    )
    ingest.add_argument("--data", help="replay bars from this CSV instead of synthetic bars")
    ingest.add_argument("--speed", type=float, help="simulated seconds per real second (0 = max)")
    ingest.add_argument("--name", help="this ingestor's name (default: sim or alpaca)")


async def serve(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from ops.cluster.config import cluster_config
    from ops.cluster.control import ControlPlane
    from ops.cluster.incidents import IncidentPublisher
    from ops.cluster.ingest import BarPublisher, ingest
    from ops.cluster.streams import ensure_streams

    settings = load_settings(config_path(args.config, env), env=env)
    cfg = cluster_config(settings)
    alpaca = settings.get("broker.name") == "alpaca"
    feed, stop_feed = await (_alpaca_feed(settings, env) if alpaca else _sim_feed(settings, args))
    name = args.name or ("alpaca" if alpaca else "sim")
    nc = await connect(cfg, env)
    try:
        js = nc.jetstream()
        await ensure_streams(js, cfg)
        control = ControlPlane(js, cfg, "ingest", name, None)
        await control.start()  # heartbeats only: an ingestor trades nothing
        incidents = IncidentPublisher(nc, "ingest", name, None)  # the gateway posts them
        if alpaca:  # credentials refused, stream lost: as the single service's feed says
            feed.on_problem, feed.on_recovered = incidents.report, incidents.recovered
        await incidents.start()
        publisher = BarPublisher(js, cfg.partitions)
        try:
            await run_until_stopped(lambda: ingest(feed, publisher), args.duration, "ingest")
        finally:
            await incidents.stop()
            await control.stop()
            await stop_feed()
        c = publisher.counters
        log.info("ingest %s: %d bars stored, %d duplicates", name, c.published, c.duplicates)
    finally:
        await nc.close()
    return 0


async def _nothing() -> None:
    return None


async def _sim_feed(settings: Settings, args: argparse.Namespace):
    """The bars `tradebot run` would see (same seed, same start, or the CSV)."""
    from bot.venues import build_sim

    venue = await asyncio.to_thread(build_sim, settings, args.data, args.speed)  # reads a CSV
    return venue.feed, _nothing


async def _alpaca_feed(settings: Settings, env: Mapping[str, str]):
    from strategy.clock import SystemClock
    from strategy.venues.alpaca.feed import AlpacaFeed

    key, secret = env.get("ALPACA_API_KEY"), env.get("ALPACA_SECRET_KEY")
    if not key or not secret:
        raise StartupError("ingest from alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY")
    feed = AlpacaFeed.connect(
        key,
        secret,
        settings.symbols,
        SystemClock(),
        settings.text("broker.data_feed"),
        stream_url=settings.text("broker.data_stream_url"),
        data_url=settings.text("broker.data_url"),
        timeout_sec=settings.number("broker.timeout_sec"),
    )
    return feed, feed.stop
