"""`tradebot gateway`: the cluster's one Slack connection (Socket Mode), whose /trade reaches
every account and process. Its audit rows go to its own journal (default: gateway.db beside
the accounts' journals), since each account's journal belongs to that account's order manager."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping

from bot.cluster_role import add_role_parser, run_until_stopped
from ops.cluster.connection import connect
from ops.config.settings import config_path, load_settings
from ops.journal.owner import journal_folder
from ops.shared.errors import StartupError

DEFAULT_API_URL = "https://slack.com/api/"
PREVIEW_MARGIN_SEC = 5.0  # an order manager's preview says it timed out itself, if it does


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gateway = add_role_parser(
        sub, "gateway", "cluster: the Slack gateway (/trade for every role)", serve
    )
    gateway.add_argument(
        "--journal", help="its audit journal (default: gateway.db beside the accounts' journals)"
    )


async def serve(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from bot.slack import tokens as slack_tokens
    from bot.slack.authz import Policy
    from bot.slack.gateway import GatewaySurface
    from ops.cluster.config import cluster_config
    from ops.cluster.control import ControlPlane
    from ops.cluster.gateway import GatewayCore
    from ops.cluster.streams import ensure_streams
    from ops.control.confirm import Confirmations
    from ops.journal.journal import Journal
    from strategy.clock import SystemClock

    bot_token, app_token = env.get("SLACK_BOT_TOKEN"), env.get("SLACK_APP_TOKEN")
    if not bot_token or not app_token:
        raise StartupError("the gateway needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN")
    slack_tokens.check(bot_token, app_token)
    settings = load_settings(config_path(args.config, env), env=env)
    cfg = cluster_config(settings)
    journal_path = args.journal or journal_folder(settings) / "gateway.db"
    journal = Journal(journal_path)
    journal.start()
    nc = await connect(cfg, env)
    try:
        js = nc.jetstream()
        await ensure_streams(js, cfg)
        core = GatewayCore(
            nc,
            cfg,
            Confirmations(time.time, bool(settings.get("slack.four_eyes"))),
            journal,
            SystemClock(),
            kill_ttl_sec=settings.number("confirm.kill_ttl_sec"),
            ack_within_sec=1.0,
            set_ttl_sec=settings.number("confirm.set_ttl_sec"),
            preview_within_sec=settings.number("confirm.preview_timeout_sec") + PREVIEW_MARGIN_SEC,
        )
        surface = GatewaySurface(
            core,
            Policy.from_settings(settings),
            bot_token,
            app_token,
            settings.text("slack.api_url") or DEFAULT_API_URL,
            settings.text("slack.alerts_channel") or settings.text("slack.channel"),
            settings.number("monitoring.alert_repeat_sec"),
        )
        control = ControlPlane(js, cfg, "gateway", "slack", None)
        await control.start()  # heartbeats only: the gateway obeys no kill, it writes them
        try:
            await surface.start()
            await run_until_stopped(asyncio.Event().wait, args.duration, "gateway")
        finally:
            await surface.stop()
            await control.stop()
    finally:
        await nc.close()
        await asyncio.to_thread(journal.close)
    return 0
