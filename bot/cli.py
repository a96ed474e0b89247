"""`tradebot` command line: run the service, watch one, or arm the local kill switch / resume."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from bot import cli_values, cluster_cli, gateway_cli, ingest_cli, journal_cli, oms_cli, worker_cli
from bot.backtest_args import add_arguments as add_backtest_arguments
from bot.logs import log_to_stderr
from ops.config.settings import config_path, load_settings
from ops.shared.errors import ConfigError, StartupError
from strategy.venues.bars import BarDataError

REPLAY_HELP = "the service replaying this CSV (`run --data`), whose journal names its kill file"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradebot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the service (simulator + console by default)")
    run.add_argument("--config", help="config file (default: $TRADEBOT_CONFIG or config.yaml)")
    run.add_argument("--duration", type=float, help="stop cleanly after this many seconds")
    run.add_argument("--speed", type=float, help="simulated seconds per real second (0 = max)")
    run.add_argument("--data", help="replay bars from this CSV instead of synthetic bars")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    dog = sub.add_parser(
        "watchdog", help="watch a running service's health endpoint; alert Slack when it dies"
    )
    dog.add_argument("--url", default="http://127.0.0.1:8787/health", help="health endpoint")
    dog.add_argument("--channel", help="channel id for SLACK_BOT_TOKEN (not for a webhook)")
    dog.add_argument("--interval", type=float, default=10.0, help="seconds between polls")
    dog.add_argument("--repeat", type=float, default=300.0, help="re-alert every N s while down")
    dog.add_argument("--duration", type=float, help="stop after this many seconds")
    test = sub.add_parser("backtest", help="run the live engine over history, with frictions")
    test.add_argument("--config", help="config file (default: $TRADEBOT_CONFIG or config.yaml)")
    add_backtest_arguments(test)
    kill = sub.add_parser("kill", help="arm the kill switch file the running service watches")
    kill.add_argument("--config", help="config file (default: $TRADEBOT_CONFIG or config.yaml)")
    kill.add_argument("--clear", action="store_true", help="remove the kill switch file")
    kill.add_argument("--data", help=REPLAY_HELP)
    res = sub.add_parser("resume", help="ask the running service to resume trading after a halt")
    res.add_argument("--config", help="config file (default: $TRADEBOT_CONFIG or config.yaml)")
    res.add_argument("--yes", action="store_true", help="do not ask (needed without a terminal)")
    res.add_argument("--data", help=REPLAY_HELP)
    journal_cli.add_parser(sub)
    ingest_cli.add_parser(sub)
    worker_cli.add_parser(sub)
    oms_cli.add_parser(sub)
    cluster_cli.add_parser(sub)
    gateway_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Each command imports only what it needs: a backtest or a kill never loads Slack, aiohttp
    or alpaca-py."""
    args = _parser().parse_args(argv)
    env = dict(os.environ)
    try:
        cli_values.check(args)
        return _dispatch(args, env)
    except (ConfigError, StartupError, BarDataError) as exc:
        print(f"tradebot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a backtest or sweep stopped at the terminal: said, not a traceback
        print(f"tradebot {args.command}: stopped (Ctrl-C)", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace, env: dict[str, str]) -> int:
    role = getattr(args, "run_role", None)  # set by each cluster role's add_parser
    if role is not None:
        return role(args, env)
    if args.command in ("kill", "resume"):
        from bot import kill_cli

        replay = {"sim.data": args.data} if args.data else None  # its journal: replay-<stem>.db
        settings = load_settings(config_path(args.config, env), overrides=replay, env=env)
        if args.command == "kill":
            return kill_cli.kill(settings, args.clear)
        return kill_cli.resume(settings, args.yes)
    if args.command == "journal":
        return journal_cli.run(args, env)
    if args.command == "backtest":
        from bot.backtest_cli import backtest

        return asyncio.run(backtest(args, config_path(args.config, env), env))
    if args.command == "watchdog":
        from bot.slack.watchdog_notify import slack_notifier
        from bot.watchdog import watch

        log_to_stderr(verbose=False)
        notify = slack_notifier(env, args.channel)
        return asyncio.run(watch(args.url, notify, args.interval, args.repeat, args.duration))
    from bot.app import RunOptions, serve

    log_to_stderr(args.verbose)
    options = RunOptions(args.config, args.duration, args.speed, args.data)
    return asyncio.run(serve(options, env))
