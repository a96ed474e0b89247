"""Journal retention: equity snapshots and latency samples older than `journal.retention_days`
are folded into one summary row per New York day, then deleted. Everything else (orders, fills,
commands, alerts...) is evidence and is kept.

    daily_equity   day, open, high, low, close (equity), snapshots
    daily_latency  day, stage, p50_ns, p99_ns, samples

Only whole days are pruned (the cutoff is a New York midnight), one transaction per day, so the
running service's writer waits at most one day's delete. "Now" is the later of the caller's
clock and the journal's newest row: a simulator whose market time ran ahead keeps its last days.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from strategy.latency import nearest_rank
from strategy.market_day import NEW_YORK, next_day_start, trading_date

if TYPE_CHECKING:
    from ops.config.settings import Settings
    from ops.journal.journal import Journal
    from strategy.clock import Clock

log = logging.getLogger(__name__)
DAY_SEC = 86_400.0
PRUNED = ("equity", "latency")
SUMMARIES = (
    "create table if not exists daily_equity (day text primary key, open real, high real, "
    "low real, close real, snapshots integer)",
    "create table if not exists daily_latency (day text, stage text, p50_ns integer, "
    "p99_ns integer, samples integer, primary key (day, stage))",
)
# A day summarized before (rows journaled late for it) widens its range and keeps its open.
EQUITY_UPSERT = (
    "insert into daily_equity (day, open, high, low, close, snapshots) values (?,?,?,?,?,?) "
    "on conflict(day) do update set high = max(high, excluded.high), "
    "low = min(low, excluded.low), close = excluded.close, "
    "snapshots = snapshots + excluded.snapshots"
)
LATENCY_INSERT = (  # percentiles cannot be merged: a day's first summary stands
    "insert or ignore into daily_latency (day, stage, p50_ns, p99_ns, samples) values (?,?,?,?,?)"
)


@dataclass(frozen=True, slots=True)
class PruneResult:
    path: str
    retention_days: float
    cutoff_ts: float  # rows before this New York midnight were pruned
    days: tuple[str, ...]  # the days summarized
    equity_deleted: int
    latency_deleted: int


def midnight_on_or_before(ts: float) -> float:
    local = datetime.fromtimestamp(ts, NEW_YORK)
    return datetime(local.year, local.month, local.day, tzinfo=NEW_YORK).timestamp()


def prune(path: str | Path, retention_days: float, now: float) -> PruneResult:
    """Summarize and delete the equity and latency rows of every whole New York day that
    ended more than `retention_days` before now (blocking: call it from a worker thread)."""
    conn = sqlite3.connect(path, timeout=30.0)
    try:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        pruned = [t for t in PRUNED if t in tables]
        newest = max((_scalar(conn, f"select max(ts) from {t}") or 0.0 for t in pruned), default=0)
        cutoff = midnight_on_or_before(max(now, newest) - retention_days * DAY_SEC)
        for statement in SUMMARIES:
            conn.execute(statement)
        if "latency" in pruned:  # the name sqlite-utils gives it, should the journal add it
            conn.execute("create index if not exists idx_latency_ts on latency (ts)")
        conn.commit()
        days: list[str] = []
        deleted = dict.fromkeys(PRUNED, 0)
        while True:
            first = min(
                (
                    ts
                    for t in pruned
                    if (ts := _scalar(conn, f"select min(ts) from {t} where ts < ?", cutoff))
                    is not None
                ),
                default=None,
            )
            if first is None:
                break
            start = midnight_on_or_before(first)
            end = min(next_day_start(first), cutoff)
            day = trading_date(first)
            with conn:  # one day: summaries in, rows out, together
                if "equity" in pruned:
                    deleted["equity"] += _fold_equity(conn, day, start, end)
                if "latency" in pruned:
                    deleted["latency"] += _fold_latency(conn, day, start, end)
            days.append(day)
        return PruneResult(
            str(path),
            retention_days,
            cutoff,
            tuple(days),
            deleted["equity"],
            deleted["latency"],
        )
    finally:
        conn.close()


def _scalar(conn: sqlite3.Connection, sql: str, *params: object) -> float | None:
    row = conn.execute(sql, params).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def _fold_equity(conn: sqlite3.Connection, day: str, start: float, end: float) -> int:
    span = "from equity where ts >= ? and ts < ?"
    count, high, low = conn.execute(
        f"select count(*), max(equity), min(equity) {span}", (start, end)
    ).fetchone()
    if not count:
        return 0
    (open_,) = conn.execute(
        f"select equity {span} order by ts, id limit 1", (start, end)
    ).fetchone()
    (close,) = conn.execute(
        f"select equity {span} order by ts desc, id desc limit 1", (start, end)
    ).fetchone()
    conn.execute(EQUITY_UPSERT, (day, open_, high, low, close, count))
    return conn.execute(f"delete {span}", (start, end)).rowcount


def _fold_latency(conn: sqlite3.Connection, day: str, start: float, end: float) -> int:
    span = "from latency where ts >= ? and ts < ?"
    by_stage: dict[str, list[int]] = {}
    for stage, ns in conn.execute(f"select stage, ns {span} order by stage, ns", (start, end)):
        by_stage.setdefault(str(stage), []).append(int(ns))
    for stage, ordered in by_stage.items():
        p50, p99 = nearest_rank(ordered, 0.50), nearest_rank(ordered, 0.99)
        conn.execute(LATENCY_INSERT, (day, stage, p50, p99, len(ordered)))
    return conn.execute(f"delete {span}", (start, end)).rowcount


def scheduled(
    settings: Settings, journal: Journal, clock: Clock
) -> Callable[[], Awaitable[PruneResult]]:
    """The daily job: prune the service's journal on its own clock, off the event loop."""

    async def job() -> PruneResult:
        days = settings.number("journal.retention_days")
        result = await asyncio.to_thread(prune, journal.path, days, clock.now())
        log.info(
            "journal pruned: %d day(s) summarized, %d equity and %d latency rows deleted",
            len(result.days),
            result.equity_deleted,
            result.latency_deleted,
        )
        return result

    return job
