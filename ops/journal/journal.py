"""The SQLite journal (sqlite-utils, WAL): every signal, order, fill, refusal, command, alert.

`record` only puts the row on a queue; a dedicated writer thread (ops/journal/writer.py) inserts
in batches, so the event loop never waits on the disk. `record_durably` is for a decision someone
is about to be told of (a trading-state change): its future says when the row is committed and
synced to the disk. `flush` (or `aflush` from async code)
waits until what was queued is written; `close` flushes, so a clean stop loses nothing. The
queue is bounded (see SHEDDABLE for what is dropped when full) and its depth is a health figure.

Runs and time: each Journal object is one run, with an id of its own (its wall start time and a
random suffix, so it needs no database round trip and never repeats); `describe_run` writes the
run's `run_info` row (pid, host, venue, config). Every row `record` queues carries that `run_id`
and `wall_ts`, the wall-clock time it was recorded; `ts` stays the time the caller gives: market
time for bars, orders, fills and equity (the simulator's clock), wall time where it gives none.
Order ids repeat across simulator runs by design (each run replays the same session from the
same seed); within a run they are unique, so orders, updates and fills join on (run_id,
client_order_id). Live, ids are unique per account, so recovery rightly joins across runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import sqlite_utils

from ops.journal.redact import redact
from ops.journal.sqlite_file import open_database, sync_to_disk, write_batch
from ops.journal.writer import Flush, Health, Writer

if TYPE_CHECKING:
    from ops.config.settings import Settings

# Drop policy when `max_queue` rows are waiting: rows of these tables are dropped (counted in
# `dropped`, and the journal reports itself unhealthy); every other row (orders, fills, state,
# alerts, commands...) is always kept.
SHEDDABLE = frozenset({"latency"})


class Journal:
    """`on_unhealthy(message)` is called (from any thread) when writes keep failing, the writer
    died, or the queue is full; `on_healthy(message)` once all of that has cleared."""

    def __init__(
        self,
        path: str | Path,
        flush_interval: float = 0.2,
        batch_size: int = 1000,
        max_queue: int = 100_000,
        close_timeout: float = 5.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self._wall = wall
        self.started_wall = wall()
        self.run_id = new_run_id(self.started_wall)
        self.max_queue = max_queue
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._health = Health()
        self._writer = Writer(
            self._queue,
            lambda: open_database(self.path),
            lambda db, batch: self._write(db, batch),
            self._sync,
            self._health,
            interval=flush_interval,
            batch_size=batch_size,
            high_water=max_queue,
            close_timeout=close_timeout,
        )
        self._thread: threading.Thread | None = None
        self._read_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        self._closed = False
        self.dropped = 0  # SHEDDABLE rows dropped because the queue was full

    def start(self) -> None:
        """Open (creating missing tables and indexes) and start the writer; raises if the
        journal cannot be opened."""
        self._thread = threading.Thread(
            target=self._writer.supervise, name="journal-writer", daemon=True
        )
        self._thread.start()
        self._writer.ready.wait()
        if self._writer.start_error is not None:
            raise self._writer.start_error

    def record(self, table: str, row: Mapping[str, object]) -> None:
        """Queue one row, stamped with this run's id and the wall time; `ts` defaults to it."""
        clean = {k: redact(v) if type(v) is str else v for k, v in row.items()}
        wall = self._wall()
        clean.setdefault("ts", wall)
        clean["wall_ts"] = wall
        clean["run_id"] = self.run_id
        if self._queue.qsize() >= self.max_queue:
            if not self._health.has("queue"):
                self._health.set(
                    "queue",
                    f"journal queue full ({self.max_queue:,} rows waiting): "
                    f"{', '.join(sorted(SHEDDABLE))} rows dropped, every other row kept",
                )
            if table in SHEDDABLE:
                self.dropped += 1
                return
        self._queue.put((table, clean))

    def record_durably(self, table: str, row: Mapping[str, object]) -> asyncio.Future[bool]:
        """Queue one row as `record` does, for a decision someone is about to be told of: the
        future (of the running loop; awaiting it blocks nothing) is True once the writer has
        committed the row and synced it to the disk, False if the journal gave up on it."""
        loop = asyncio.get_running_loop()
        written: asyncio.Future[bool] = loop.create_future()
        self.record(table, row)
        if self._closed:
            written.set_result(False)
            return written

        def settle(ok: bool) -> None:  # on the writer thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: no one waits now
                loop.call_soon_threadsafe(_settle, written, ok)

        self._queue.put(Flush(durable=True, on_done=settle))
        return written

    def describe_run(self, venue: str, config: Mapping[str, object]) -> None:
        """This run's `run_info` row: when it started, which process, the venue, the config."""
        self.record(
            "run_info",
            {
                "ts": self.started_wall,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "venue": venue,
                "config": json.dumps(config, default=str, sort_keys=True),
            },
        )

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until what was queued before is written; False if that took over `timeout`."""
        if self._thread is None or not self._thread.is_alive():
            return self._queue.empty()
        marker = Flush()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    async def aflush(self) -> bool:
        return await asyncio.to_thread(self.flush)

    def close(self) -> None:
        """Write everything queued (a clean stop loses nothing); while writes fail, keep trying
        for `close_timeout` seconds, then give up on the rest (logged, counted in `lost`)."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._writer.close()
            self._thread.join()
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    # -- health ----------------------------------------------------------------------------

    @property
    def on_unhealthy(self) -> Callable[[str], None]:
        return self._health.on_unhealthy

    @on_unhealthy.setter
    def on_unhealthy(self, callback: Callable[[str], None]) -> None:
        self._health.on_unhealthy = callback

    @property
    def on_healthy(self) -> Callable[[str], None]:
        return self._health.on_healthy

    @on_healthy.setter
    def on_healthy(self, callback: Callable[[str], None]) -> None:
        self._health.on_healthy = callback

    @property
    def rows_written(self) -> int:
        return self._writer.rows_written

    @property
    def depth(self) -> int:
        """Rows waiting to be written (the queue and the batch in hand)."""
        return self._queue.qsize() + self._writer.in_hand

    def behind(self) -> bool:
        """Over half of `max_queue` rows waiting: a simulated or replayed feed waits for the
        writer (market time is the data's own) before the queue is full (a live feed cannot
        wait, so a full queue stops entries: ops/watch/journal_watch.py)."""
        return self.depth > self.max_queue // 2

    @property
    def healthy(self) -> bool:
        return not self._health.problems

    def health(self) -> dict[str, object]:
        """The journal's health figures, for the health endpoint."""
        writer = self._writer
        return {
            "healthy": self.healthy,
            "problems": self._health.problems,
            "queue": self.depth,
            "max_queue": self.max_queue,
            "rows_written": writer.rows_written,
            "write_errors": writer.write_errors,
            "dropped": self.dropped,
            "rejected": writer.rejected,
            "restarts": writer.restarts,
            "lost": writer.lost,
        }

    # -- writer thread: its hooks (a test may make them fail); ops/journal/sqlite_file.py ------

    def _sync(self) -> None:
        sync_to_disk(self.path)

    def _write(
        self, db: sqlite_utils.Database, batch: Mapping[str, list[dict[str, object]]]
    ) -> None:
        write_batch(db, batch)

    # -- reads -----------------------------------------------------------------------------

    def query(
        self, sql: str, params: Sequence[object] | Mapping[str, object] = ()
    ) -> list[dict[str, object]]:
        with self._read_lock:
            if self._reader is None:
                self._reader = sqlite3.connect(self.path, check_same_thread=False)
                self._reader.row_factory = sqlite3.Row
            return [dict(row) for row in self._reader.execute(sql, params)]

    async def aquery(
        self, sql: str, params: Sequence[object] | Mapping[str, object] = ()
    ) -> list[dict[str, object]]:
        return await asyncio.to_thread(self.query, sql, params)

    def record_param_change(
        self, param: str, old: str, new: str | None, user: str, action: str, applied_to_open: bool
    ) -> None:
        self.record(
            "param_changes",
            {
                "param": param,
                "old": old,
                "new": new,
                "user": user,
                "action": action,
                "applied_to_open": int(applied_to_open),
            },
        )

    def load_overrides(self) -> dict[str, str]:
        """The operators' runtime changes still in force: set, reset, set... replayed in order."""
        self.flush()
        overrides: dict[str, str] = {}
        for row in self.query("select param, new, action from param_changes order by id"):
            if row["action"] == "set":
                overrides[str(row["param"])] = str(row["new"])
            else:
                overrides.pop(str(row["param"]), None)
        return overrides


def _settle(written: asyncio.Future[bool], ok: bool) -> None:
    if not written.done():
        written.set_result(ok)


def new_run_id(wall: float) -> str:
    """Sortable by start time, unique without asking the database: 20260102T143000-a1b2c3."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(wall))
    return f"{stamp}-{secrets.token_hex(3)}"


def start_journal(settings: Settings, path: Path) -> Journal:
    """The journal at `path` (its folder made), its writer started."""
    path.parent.mkdir(parents=True, exist_ok=True)
    journal = Journal(path, max_queue=settings.integer("journal.max_queue"))
    journal.start()
    return journal
