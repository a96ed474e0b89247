"""The journal inside the service: its health opens an incident and stops entries, the run
summary counts every row written, and every recovery query is served by an index."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import sqlite_utils

from ops.journal.journal import Journal
from ops.journal.schema import SCHEMA
from ops.service.recovery import DAY_START, JOURNALED_FILLS, PEAK, UNFINISHED
from ops.watch.journal_watch import INCIDENT, watch_journal
from strategy.types import TradingState
from tests.support import eventually, make_harness


def from_writer_thread(callback, message: str) -> None:  # type: ignore[no-untyped-def]
    """Call a journal health callback the way the journal does: from another thread."""
    thread = threading.Thread(target=callback, args=(message,))
    thread.start()
    thread.join()


async def test_an_unhealthy_journal_opens_an_incident_and_stops_entries(tmp_path: Path) -> None:
    """Unhealthy: a critical `journal` incident and REDUCING (exits only) via the state's
    owner; healthy again resolves the incident, and entries wait for an operator's resume."""
    h = make_harness(tmp_path)
    watch_journal(h.service.journal, h.service.incidents, h.service.trading)
    from_writer_thread(h.journal.on_unhealthy, "journal writes failing (disk I/O error)")
    await eventually(lambda: INCIDENT in h.service.open_alerts)
    assert h.service.open_incidents()[INCIDENT] == (
        "critical",
        "journal writes failing (disk I/O error)",
    )
    assert h.service.gate.state is TradingState.REDUCING
    assert (
        h.service.gate.state_reason == "journal unhealthy: journal writes failing (disk I/O error)"
    )
    from_writer_thread(h.journal.on_healthy, "the journal is writing normally again")
    await eventually(lambda: INCIDENT not in h.service.open_alerts)
    assert h.service.gate.state is TradingState.REDUCING
    h.journal.close()


async def test_the_run_summary_counts_every_row_written(tmp_path: Path) -> None:
    """The summary is taken after the final flush: its row count is what is on disk."""
    h = make_harness(tmp_path)
    await h.service.start()
    for i in range(20_000):
        h.journal.record("latency", {"stage": "ack", "ns": i})
    summary = await h.service.stop()
    with sqlite3.connect(tmp_path / "journal.db") as db:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
        on_disk = sum(db.execute(f"select count(*) from [{t}]").fetchone()[0] for t in tables)
    assert summary.journal_rows == on_disk


def plan(journal: Journal, sql: str, params: tuple[object, ...] = ()) -> str:
    rows = journal.query(f"explain query plan {sql}", params)
    return " | ".join(str(r["detail"]) for r in rows)


def test_an_existing_journal_gets_the_indexes_and_recovery_uses_them(tmp_path: Path) -> None:
    """A journal made before the indexes gains them at start; the per-order recovery lookups
    search an index instead of scanning, and the peak and day start need no scan."""
    old = sqlite_utils.Database(tmp_path / "j.db")
    for table, columns in SCHEMA.items():  # the tables as before, without any index
        old[table].create({"id": int, "ts": float, **columns}, pk="id")  # type: ignore[union-attr]
    assert old.execute("select count(*) from sqlite_master where type = 'index'").fetchone() == (0,)
    old.close()
    journal = Journal(tmp_path / "j.db")
    journal.start()
    unfinished = plan(journal, UNFINISHED)
    assert "SEARCH u USING COVERING INDEX idx_order_updates_client_order_id_status" in unfinished
    assert "USING INDEX idx_fills_client_order_id" in plan(journal, JOURNALED_FILLS, ("a",))
    assert "SCAN" not in plan(journal, PEAK)
    assert "SCAN" not in plan(journal, DAY_START, ("2026-01-02",))
    journal.close()
