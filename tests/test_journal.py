"""The journal: batched off-thread writes, nothing lost on close, restarts continue it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from ops.journal.journal import Journal


def test_schema_wal_and_rows_on_disk_after_flush(tmp_path: Path) -> None:
    """start() creates every table in WAL mode; flush() puts queued rows on disk."""
    journal = Journal(tmp_path / "j.db")
    journal.start()
    journal.record("fills", {"symbol": "SPY", "qty": 3, "price": 100.5})
    journal.flush()
    assert journal.query("select symbol, qty, price from fills") == [
        {"symbol": "SPY", "qty": 3, "price": 100.5}
    ]
    assert journal.query("pragma journal_mode")[0]["journal_mode"] == "wal"
    tables = {r["name"] for r in journal.query("select name from sqlite_master where type='table'")}
    assert {"signals", "orders", "fills", "refusals", "commands", "param_changes"} <= tables
    journal.close()


def test_close_flushes_and_a_restart_continues(tmp_path: Path) -> None:
    """5,000 rows recorded then close(): all on disk; a second journal appends after them."""
    first = Journal(tmp_path / "j.db", batch_size=300)
    first.start()
    for i in range(5000):
        first.record("latency", {"stage": "features", "ns": i})
    first.close()
    second = Journal(tmp_path / "j.db")
    second.start()
    second.record("latency", {"stage": "ack", "ns": 1})
    second.flush()
    rows = second.query("select count(*) as n, max(id) as top from latency")[0]
    assert rows == {"n": 5001, "top": 5001}
    assert second.rows_written == 1
    second.close()


def test_writes_happen_on_the_writer_thread(tmp_path: Path) -> None:
    """record() only queues: the insert runs on the journal-writer thread."""
    journal = Journal(tmp_path / "j.db")
    journal.start()
    seen: list[str] = []
    original = journal._write

    def spy(db, batch):
        seen.append(threading.current_thread().name)
        original(db, batch)

    journal._write = spy  # type: ignore[method-assign]
    journal.record("runs", {"event": "x", "detail": ""})
    journal.flush()
    journal.close()
    assert seen == ["journal-writer"]


def test_unknown_columns_are_kept_and_secrets_redacted(tmp_path: Path) -> None:
    """A new field adds a column instead of losing the row; a token never reaches disk."""
    journal = Journal(tmp_path / "j.db")
    journal.start()
    journal.record("alerts", {"key": "k", "message": "xoxb-123-456", "thread_ts": "1.2"})
    journal.record("alerts", {"key": "k2", "message": "auth failed for token xapp-1-A2-3, retry"})
    journal.close()
    with sqlite3.connect(tmp_path / "j.db") as db:
        rows = db.execute("select message, thread_ts from alerts order by id").fetchall()
    assert rows == [("[redacted]", "1.2"), ("auth failed for token [redacted], retry", None)]


def test_overrides_replay_set_reset_set(tmp_path: Path) -> None:
    """The latest set wins; a reset removes the key."""
    journal = Journal(tmp_path / "j.db")
    journal.start()
    journal.record_param_change("strategy.max_qty", "100", "50", "U1", "set", False)
    journal.record_param_change("strategy.lookback", "20", "30", "U1", "set", False)
    journal.record_param_change("strategy.max_qty", "50", None, "U2", "reset", False)
    journal.record_param_change("strategy.lookback", "30", "25", "U1", "set", True)
    assert journal.load_overrides() == {"strategy.lookback": "25"}
    journal.close()
