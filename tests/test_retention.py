"""Journal retention: old equity snapshots and latency samples fold into daily summaries and
are deleted; everything recent and every other table is kept; the CLI and the daily job."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from bot.cli import main
from ops.journal import retention
from ops.journal.journal import Journal
from strategy.market_day import NEW_YORK
from tests.support import make_harness, write_config


def ny(day: int, hour: int, minute: int = 0) -> float:
    """Epoch seconds of 2026-03-`day` hour:minute New York time."""
    return datetime(2026, 3, day, hour, minute, tzinfo=NEW_YORK).timestamp()


NOW = ny(20, 12)  # with 2 days kept, everything before Mar 18 00:00 New York goes


def seed(path: Path) -> None:
    """Two old days (Mar 2 and 3, one snapshot just before midnight), one recent day."""
    journal = Journal(path)
    journal.start()
    equity = [
        (ny(2, 9, 30), 100.0),
        (ny(2, 12), 105.0),
        (ny(2, 15), 95.0),
        (ny(2, 23, 59), 101.0),
        (ny(3, 0, 1), 102.0),
        (ny(3, 16), 110.0),
        (ny(19, 10), 120.0),
    ]
    for ts, value in equity:
        journal.record("equity", {"ts": ts, "equity": value, "cash": value})
    for i, ns in enumerate([5, 1, 3, 2, 4, 100]):
        journal.record("latency", {"ts": ny(2, 10, i), "stage": "ack", "ns": ns})
    journal.record("latency", {"ts": ny(19, 10), "stage": "ack", "ns": 7})
    journal.record("fills", {"ts": ny(2, 10), "symbol": "SPY", "qty": 1})
    journal.close()


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_prune_keeps_daily_summaries_and_deletes_old_rows(tmp_path: Path) -> None:
    """Whole New York days older than the retention become one daily_equity row (open,
    high, low, close by hand) and daily_latency p50/p99 per stage; their rows are deleted;
    recent rows and other tables stay; a second prune finds nothing."""
    path = tmp_path / "journal.db"
    seed(path)
    result = retention.prune(path, 2, NOW)
    assert result.cutoff_ts == ny(18, 0)
    assert result.days == ("2026-03-02", "2026-03-03")
    assert (result.equity_deleted, result.latency_deleted) == (6, 6)
    assert rows(path, "select day, open, high, low, close, snapshots from daily_equity") == [
        ("2026-03-02", 100.0, 105.0, 95.0, 101.0, 4),
        ("2026-03-03", 102.0, 110.0, 102.0, 110.0, 2),
    ]
    # nearest rank over 1,2,3,4,5,100: p50 = 3rd value, p99 = 6th
    assert rows(path, "select day, stage, p50_ns, p99_ns, samples from daily_latency") == [
        ("2026-03-02", "ack", 3, 100, 6)
    ]
    assert rows(path, "select equity from equity") == [(120.0,)]
    assert rows(path, "select ns from latency") == [(7,)]
    assert rows(path, "select count(*) from fills") == [(1,)]
    again = retention.prune(path, 2, NOW)
    assert again.days == () and again.equity_deleted == 0


def test_prune_counts_from_the_newest_row_when_market_time_ran_ahead(tmp_path: Path) -> None:
    """A simulator journal whose market time is ahead of the clock keeps its last days."""
    path = tmp_path / "journal.db"
    seed(path)
    result = retention.prune(path, 2, ny(1, 0))  # "now" before every row
    assert result.cutoff_ts == ny(17, 0)  # 2 days before Mar 19 10:00, the newest row
    assert result.days == ("2026-03-02", "2026-03-03")


def test_journal_prune_command_prints_what_it_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tradebot journal prune --days N`: what was kept, the days summarized, rows deleted;
    a missing journal is a one-line error."""
    path = tmp_path / "journal.db"
    seed(path)
    config = write_config(tmp_path, **{"journal.retention_days": 30})
    assert main(["journal", "prune", "--config", str(config), "--days", "2"]) == 0
    out = capsys.readouterr().out  # on the wall clock, every seeded day is old
    assert out.startswith(f"journal {path}: keeping 2 days (rows from ")
    assert out.splitlines()[1:] == [
        "  summarized 3 day(s) 2026-03-02..2026-03-19 into daily_equity and daily_latency",
        "  deleted 7 equity snapshot(s) and 7 latency sample(s)",
    ]
    assert main(["journal", "prune", "--config", str(config)]) == 0
    assert "nothing older to prune" in capsys.readouterr().out
    missing = write_config(tmp_path, **{"journal.path": str(tmp_path / "none.db")})
    assert main(["journal", "prune", "--config", str(missing)]) == 2
    assert "no journal at" in capsys.readouterr().err


async def test_the_daily_job_prunes_on_the_service_clock(tmp_path: Path) -> None:
    """The scheduled job reads journal.retention_days and the service's clock."""
    h = make_harness(tmp_path, **{"journal.retention_days": 2})
    for ts, value in [(ny(2, 10), 100.0), (ny(19, 10), 101.0)]:
        h.journal.record("equity", {"ts": ts, "equity": value})
    await h.journal.aflush()
    h.clock.set(NOW)
    result = await retention.scheduled(h.service.settings, h.journal, h.clock)()
    assert result.days == ("2026-03-02",) and result.equity_deleted == 1
    assert h.journal.query("select day, close from daily_equity") == [
        {"day": "2026-03-02", "close": 100.0}
    ]
    h.journal.close()
