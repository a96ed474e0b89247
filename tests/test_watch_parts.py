"""The watchers (the monitor's checks and dead-man, the health endpoint, the safety net, the
journal's health, drift, the scheduler, a replay's end) are given the account's parts as one
narrow view, composed once with the account (bot/account.py), not the trading service."""

from __future__ import annotations

import ast
from pathlib import Path

from bot.account import watched_parts
from bot.venues import build_sim
from ops.config.settings import load_settings
from ops.journal.journal import start_journal
from ops.shared.results import Level
from ops.watch.monitor import heartbeats
from tests.support import REPO, bar, make_harness, write_config

WATCHERS = (
    "ops/watch/monitor.py",
    "ops/watch/health_endpoint.py",
    "ops/watch/safety_net.py",
    "ops/watch/journal_watch.py",
    "ops/watch/drift.py",
    "ops/watch/scheduler.py",
    "ops/watch/parts.py",
    "bot/replay_end.py",
)


def imported(path: Path) -> set[str]:
    """Every module the file imports, type-checking imports included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_watcher_imports_the_trading_service() -> None:
    """Each watcher is typed against the narrow view; only the composition sees the hub."""
    importers = [p for p in WATCHERS if "ops.service.service" in imported(REPO / p)]
    assert importers == []


async def test_the_view_reads_the_settings_an_operator_applied_after_it_was_composed(
    tmp_path: Path,
) -> None:
    """Composed once at start-up, the view still reads the settings in force: a heartbeat
    limit applied later judges the next check."""
    h = make_harness(tmp_path)
    parts = watched_parts(h.service)
    await h.push(bar("SPY", 0, 100.0))
    h.clock.advance(60)
    assert {r.key: r.level for r in heartbeats(parts)}["feed-stale"] is Level.OK
    tighter = load_settings(write_config(tmp_path, **{"monitoring.stale_after_sec": 10}))
    h.service.apply_settings(tighter, apply_to_open=False)
    assert {r.key: r.level for r in heartbeats(parts)}["feed-stale"] is Level.CRITICAL


async def test_the_composed_account_watches_its_own_service(tmp_path: Path) -> None:
    """`Venue.account` (for `tradebot run` and each order manager) composes the view of the
    very service it built: its parts, and the checks' results that service's status shows."""
    settings = load_settings(write_config(tmp_path))
    venue = build_sim(settings, None, None)
    journal = start_journal(settings, tmp_path / "journal.db")
    try:
        account = venue.account(settings, journal)
        service, watched = account.service, account.watched
        assert watched.checks is service.checks and watched.book is service.book
        assert watched.trading is service.trading and watched.journal is journal
    finally:
        journal.close()
