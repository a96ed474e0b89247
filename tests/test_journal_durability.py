"""The journal cannot lose rows silently: a refusing disk, a dying writer, a bad row, a full
queue and a close while writes fail are all retried, reported or counted."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import sqlite_utils

from ops.journal.journal import Journal

EVERYTHING = 1_073_741_823  # sqlite's largest max_page_count


class Reports:
    """Collects the journal's health callbacks (called from its writer thread)."""

    def __init__(self, journal: Journal) -> None:
        self.unhealthy: list[str] = []
        self.healthy: list[str] = []
        self.went_unhealthy = threading.Event()
        self.went_healthy = threading.Event()
        journal.on_unhealthy = self._unhealthy
        journal.on_healthy = self._healthy

    def _unhealthy(self, message: str) -> None:
        self.unhealthy.append(message)
        self.went_unhealthy.set()

    def _healthy(self, message: str) -> None:
        self.healthy.append(message)
        self.went_healthy.set()


class FullDisk(Journal):
    """A journal whose database file may not grow while `full` is set: sqlite itself answers
    "database or disk is full" (SQLITE_FULL), as on a full disk."""

    full = False

    def _write(self, db: sqlite_utils.Database, batch) -> None:  # type: ignore[no-untyped-def]
        pages = db.execute("pragma page_count").fetchone()[0] if self.full else EVERYTHING
        db.execute(f"pragma max_page_count = {pages}")
        super()._write(db, batch)


class DiesOnce(Journal):
    """A journal whose first write raises something no one expected."""

    died = False

    def _write(self, db: sqlite_utils.Database, batch) -> None:  # type: ignore[no-untyped-def]
        if not self.died:
            self.died = True
            raise RuntimeError("writer bug")
        super()._write(db, batch)


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"select count(*) from {table}").fetchone()[0])


def fills(journal: Journal, n: int) -> None:
    for i in range(n):
        journal.record(
            "fills", {"client_order_id": f"o{i}", "symbol": "SPY", "qty": 1, "price": 1.0}
        )


def test_a_full_disk_keeps_the_batch_reports_unhealthy_and_recovers(tmp_path: Path) -> None:
    """Writes refused by a full disk are retried, never dropped: unhealthy while it lasts,
    every row on disk and healthy again once the disk has room."""
    journal = FullDisk(tmp_path / "j.db")
    reports = Reports(journal)
    journal.start()
    journal.full = True
    fills(journal, 2_000)
    assert reports.went_unhealthy.wait(10)
    assert "journal writes failing" in reports.unhealthy[0]
    assert "full" in reports.unhealthy[0]
    assert not journal.flush(timeout=0.2)  # the rows are still waiting, not gone
    assert not journal.health()["healthy"] and journal.depth >= 2_000
    journal.full = False
    assert journal.flush(timeout=10)
    assert reports.went_healthy.is_set()
    assert count(tmp_path / "j.db", "fills") == 2_000
    assert journal.health()["write_errors"] >= 3  # type: ignore[operator]
    journal.close()


def test_a_writer_that_raises_is_restarted_and_loses_nothing(tmp_path: Path) -> None:
    """An unexpected exception in the writer restarts it with the batch it held; reported."""
    journal = DiesOnce(tmp_path / "j.db")
    reports = Reports(journal)
    journal.start()
    fills(journal, 10)
    assert journal.flush(timeout=10)
    assert count(tmp_path / "j.db", "fills") == 10
    assert journal.health()["restarts"] == 1
    assert "journal writer died (RuntimeError('writer bug'))" in reports.unhealthy[0]
    assert reports.went_healthy.is_set()
    journal.record("runs", {"event": "after", "detail": ""})
    journal.close()
    assert count(tmp_path / "j.db", "runs") == 1


def test_a_row_sqlite_rejects_is_set_aside_and_the_rest_written(tmp_path: Path) -> None:
    """A value sqlite cannot store loses only its own row, kept as text in `errors`."""
    journal = Journal(tmp_path / "j.db")
    journal.start()
    fills(journal, 3)
    journal.record("signals", {"symbol": "SPY", "z": object()})
    fills(journal, 3)
    journal.close()
    assert count(tmp_path / "j.db", "fills") == 6
    with sqlite3.connect(tmp_path / "j.db") as db:
        origin, error = db.execute("select origin, error from errors").fetchone()
    assert origin == "journal" and "row for signals rejected" in error
    assert journal.health()["rejected"] == 1


def test_a_full_queue_drops_latency_samples_first_and_keeps_every_other_row(
    tmp_path: Path,
) -> None:
    """At max_queue rows waiting, latency samples are dropped and counted, fills are kept; the
    journal is unhealthy until the writer has caught up."""
    journal = Journal(tmp_path / "j.db", max_queue=1_000)
    reports = Reports(journal)
    for i in range(1_500):  # not started yet: nothing drains the queue
        journal.record("latency", {"stage": "ack", "ns": i})
    fills(journal, 50)
    assert journal.dropped == 500
    assert journal.depth == 1_050
    assert "journal queue full" in reports.unhealthy[0]
    journal.start()
    assert journal.flush(timeout=10)
    assert reports.went_healthy.is_set() and journal.healthy
    journal.close()
    assert count(tmp_path / "j.db", "latency") == 1_000
    assert count(tmp_path / "j.db", "fills") == 50


def test_close_while_writes_fail_gives_up_after_its_bound_and_counts_the_loss(
    tmp_path: Path,
) -> None:
    """A stop on a full disk does not hang: after close_timeout the rows left are counted."""
    journal = FullDisk(tmp_path / "j.db", close_timeout=0.3)
    journal.start()
    journal.full = True
    fills(journal, 2_000)
    journal.close()
    assert journal.health()["lost"] == 2_000
    assert count(tmp_path / "j.db", "fills") == 0
