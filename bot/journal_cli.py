"""`tradebot journal ...`: maintenance of the SQLite journal. Each subcommand registers its
handler with `set_defaults(journal_handler=...)`, so another is one `add_parser` away."""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping

from ops.config.settings import config_path, load_settings
from ops.journal.owner import find_journal
from ops.journal.retention import PruneResult, prune
from ops.shared.errors import StartupError
from strategy.market_day import market_time


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    journal = sub.add_parser("journal", help="journal maintenance (prune)")
    actions = journal.add_subparsers(dest="journal_command", required=True)
    pruning = actions.add_parser(
        "prune",
        help="fold equity snapshots and latency samples older than journal.retention_days "
        "into daily summaries and delete them",
    )
    pruning.add_argument("--config", help="config file (default: $TRADEBOT_CONFIG or config.yaml)")
    pruning.add_argument("--days", type=float, help="keep this many days (journal.retention_days)")
    pruning.set_defaults(journal_handler=prune_command)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    return int(args.journal_handler(args, env))


def prune_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = load_settings(config_path(args.config, env), env=env)
    path = find_journal(settings)
    if not path.is_file():
        raise StartupError(f"no journal at {path}")
    days = args.days if args.days is not None else settings.number("journal.retention_days")
    if days < 1:
        raise StartupError("--days: keep at least 1 day")
    print(render(prune(path, days, time.time())))
    return 0


def render(result: PruneResult) -> str:
    cutoff = market_time(result.cutoff_ts)
    head = f"journal {result.path}: keeping {result.retention_days:g} days (rows from {cutoff} on)"
    if not result.days:
        return f"{head}; nothing older to prune"
    span = result.days[0] if len(result.days) == 1 else f"{result.days[0]}..{result.days[-1]}"
    return (
        f"{head}\n"
        f"  summarized {len(result.days)} day(s) {span} into daily_equity and daily_latency\n"
        f"  deleted {result.equity_deleted:,} equity snapshot(s) and "
        f"{result.latency_deleted:,} latency sample(s)"
    )
