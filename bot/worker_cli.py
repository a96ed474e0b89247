"""`tradebot worker --strategy NAME --partitions a-b`: the engine over those bar partitions,
publishing order intents for the strategy's account; it mirrors kill and pause."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping

from bot.cluster_role import add_role_parser, run_until_stopped
from ops.cluster.connection import connect
from ops.config.settings import config_path, load_settings
from ops.shared.errors import ConfigError

log = logging.getLogger("tradebot")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = add_role_parser(
        sub, "worker", "cluster: decide on bar partitions, publish intents", serve
    )
    worker.add_argument("--strategy", required=True, help="a strategy of cluster.strategies")
    worker.add_argument("--partitions", help="a-b, inclusive (default: all)")


async def serve(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    import gc

    from ops.cluster.config import cluster_config
    from ops.cluster.control import ControlPlane
    from ops.cluster.params import ParamsFollower, engine_applier
    from ops.cluster.resume import Reconnects
    from ops.cluster.streams import ensure_streams
    from ops.cluster.worker_setup import (
        build_worker,
        follow_control,
        parse_partitions,
        upgrade_bar_consumers,
    )

    settings = load_settings(config_path(args.config, env), env=env)
    cfg = cluster_config(settings)
    account = cfg.account_of(args.strategy)
    try:
        partitions = parse_partitions(args.partitions or f"0-{cfg.partitions - 1}", cfg.partitions)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    name = f"{args.strategy}-p{partitions[0]:02d}-{partitions[-1]:02d}"
    reconnects = Reconnects()
    nc = await connect(cfg, env, f"worker.{name}", reconnects)
    try:
        js = nc.jetstream()
        await ensure_streams(js, cfg)
        await upgrade_bar_consumers(js, cfg, args.strategy, partitions)
        worker = build_worker(js, settings, cfg, args.strategy, partitions, reconnects=reconnects)
        params = ParamsFollower(
            js, cfg, account, engine_applier(worker.engine, worker.gate, settings)
        )
        await params.load()  # the account's changes in force, before any bar is decided
        await worker.restore()
        control = ControlPlane(js, cfg, "worker", name, account, reconnects=reconnects)
        await control.start(follow_control(worker.gate, control))
        await params.follow(control)
        gc.freeze()  # as the order manager's (bot/oms_cli.py): no full collection rescans it
        try:
            await run_until_stopped(worker.run, args.duration, f"worker.{name}")
        finally:
            await params.stop()
            await control.stop()
            counters = worker.engine.progress().counters
            log.info(  # its fills are the order manager's to log; this says they came back
                "worker %s stopped: %d bars, %d orders decided, %d fills mirrored",
                name,
                counters.bars,
                counters.orders,
                counters.fills,
            )
    finally:
        await nc.close()
    return 0
