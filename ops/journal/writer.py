"""The journal's writer thread and its health: nothing queued is lost without someone knowing.

A batch the database refuses (disk full, I/O error, locked) is kept and retried with backoff;
after a few failed attempts the journal reports itself unhealthy, and healthy again once a batch
goes through. A row sqlite rejects on its own (a bad value) is set aside as text in `errors`
instead of blocking the rows behind it. If the writer loop dies it is restarted with the batch
it held, and that is reported. At close, writes that still fail are given up on after a bound,
and what was lost is logged and counted.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping

import sqlite_utils

log = logging.getLogger(__name__)

UNHEALTHY_AFTER = 3  # failed attempts at one batch before the journal says it is unhealthy
FIRST_BACKOFF_SEC = 0.05
MAX_BACKOFF_SEC = 2.0
STOP = object()

Row = tuple[str, dict[str, object]]
Batch = Mapping[str, list[dict[str, object]]]
Insert = Callable[[sqlite_utils.Database, Batch], None]


class Flush:
    """A marker on the queue: set once everything queued before it is written. A durable one
    also has that synced to the disk first; `on_done(written)` is called (on the writer
    thread) with False when the journal gave up on those rows instead."""

    def __init__(
        self, durable: bool = False, on_done: Callable[[bool], None] | None = None
    ) -> None:
        self.done = threading.Event()
        self.durable = durable
        self._on_done = on_done

    def release(self, written: bool) -> None:
        self.done.set()
        if self._on_done is not None:
            self._on_done(written)


def _log_unhealthy(message: str) -> None:
    log.error("JOURNAL UNHEALTHY: %s", message)


def _log_healthy(message: str) -> None:
    log.warning("journal healthy again: %s", message)


class Health:
    """Named problems (writes, writer, queue); their transitions go to the callbacks, which
    may be called from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problems: dict[str, str] = {}
        self.on_unhealthy: Callable[[str], None] = _log_unhealthy
        self.on_healthy: Callable[[str], None] = _log_healthy

    def has(self, name: str) -> bool:
        return name in self._problems

    @property
    def problems(self) -> list[str]:
        return list(self._problems.values())

    def set(self, name: str, message: str | None) -> None:
        """Set (a message) or clear (None) one problem; report when the picture changes."""
        with self._lock:
            if message is None:
                if self._problems.pop(name, None) is None:
                    return
            elif self._problems.get(name) == message:
                return
            else:
                self._problems[name] = message
            problems = list(self._problems.values())
        if problems:
            self.on_unhealthy("; ".join(problems))
        else:
            self.on_healthy("the journal is writing normally again")


class Writer:
    def __init__(
        self,
        rows: queue.SimpleQueue[object],
        open_db: Callable[[], sqlite_utils.Database],
        insert: Insert,
        sync: Callable[[], None],
        health: Health,
        *,
        interval: float,
        batch_size: int,
        high_water: int,
        close_timeout: float,
    ) -> None:
        self._queue = rows
        self._open_db = open_db
        self._insert = insert
        self._sync = sync  # what was committed, onto the disk (for the durable markers)
        self._health = health
        self._interval = interval
        self._batch_size = batch_size
        self._low_water = high_water // 2  # the queue problem clears below this
        self._close_timeout = close_timeout
        self._pending: list[Row] = []  # the batch in hand: kept across retries and restarts
        self._markers: list[Flush] = []
        self._stopping = False
        self._closing = threading.Event()
        self._closing_at = 0.0
        self.ready = threading.Event()
        self.start_error: Exception | None = None
        self.rows_written = 0
        self.write_errors = 0  # failed attempts (each is retried)
        self.restarts = 0
        self.rejected = 0  # rows sqlite refused on their own (set aside in `errors`)
        self.lost = 0  # rows given up on at close while writes still failed

    @property
    def in_hand(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        """From close(): stop waiting between retries; give up after `close_timeout`."""
        self._closing_at = time.monotonic()
        self._closing.set()
        self._queue.put(STOP)

    def supervise(self) -> None:
        """The thread's target: the writer loop, restarted (with its batch) if it dies."""
        delay = FIRST_BACKOFF_SEC
        while True:
            try:
                self._run()
                return
            except Exception as exc:
                if not self.ready.is_set():  # could not even open the journal at start
                    self.start_error = exc
                    self.ready.set()
                    return
                self.restarts += 1
                log.exception("journal writer died; restarting it")
                self._health.set(
                    "writer", f"journal writer died ({exc!r}); restarted ({self.restarts} so far)"
                )
                if self._back_off(delay):
                    return
                delay = min(delay * 2, MAX_BACKOFF_SEC)

    def _run(self) -> None:
        db = self._open_db()
        try:
            self.ready.set()
            while True:
                if not self._pending and not self._markers and not self._take():
                    if self._stopping:
                        return
                    continue
                self._write_pending(db)
                self._release_markers()
                if self._health.has("queue") and self._queue.qsize() <= self._low_water:
                    self._health.set("queue", None)
                if self._stopping and self._queue.empty():
                    return
        finally:
            db.close()

    def _release_markers(self) -> None:
        """After a batch: the durable markers once the disk has it (a failed sync is retried
        like a failed write: the markers wait, nothing is said to be on disk that is not)."""
        if not self._markers:
            return
        if any(marker.durable for marker in self._markers):
            delay = FIRST_BACKOFF_SEC
            while True:
                try:
                    self._sync()
                    break
                except OSError as exc:
                    self.write_errors += 1
                    log.warning("journal sync to disk failed: %s", exc)
                    if self._back_off(delay):
                        return
                    delay = min(delay * 2, MAX_BACKOFF_SEC)
        for marker in self._markers:
            marker.release(True)
        self._markers.clear()

    def _take(self) -> bool:
        """Move up to a batch off the queue into the batch in hand; False if nothing came."""
        try:
            item = self._queue.get(timeout=self._interval)
        except queue.Empty:
            return False
        while True:
            if item is STOP:
                self._stopping = True
            elif isinstance(item, Flush):
                self._markers.append(item)
            else:
                self._pending.append(item)  # type: ignore[arg-type]
            if len(self._pending) >= self._batch_size:
                return True
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return True

    def _write_pending(self, db: sqlite_utils.Database) -> None:
        delay = FIRST_BACKOFF_SEC
        failures = 0
        while self._pending:
            batch: dict[str, list[dict[str, object]]] = defaultdict(list)
            for table, row in self._pending:
                batch[table].append(row)
            try:
                self._insert(db, batch)
            except sqlite3.OperationalError as exc:  # the database refuses: keep, back off
                self.write_errors += 1
                failures += 1
                log.warning("journal write failed (attempt %d): %s", failures, exc)
                if failures >= UNHEALTHY_AFTER:
                    self._health.set(
                        "writes", f"journal writes failing ({exc}); rows kept, retrying"
                    )
                if self._back_off(delay):
                    return
                delay = min(delay * 2, MAX_BACKOFF_SEC)
                continue
            except (sqlite3.Error, TypeError, ValueError):  # something in the rows
                self.write_errors += 1
                log.exception("journal batch rejected; writing its rows one by one")
                self._write_apart(db)
                continue
            self.rows_written += len(self._pending)
            self._pending.clear()
        self._health.set("writes", None)
        self._health.set("writer", None)

    def _write_apart(self, db: sqlite_utils.Database) -> None:
        """Row by row: a row sqlite refuses on its own goes to `errors` as text. The database
        refusing altogether stops here (the caller retries the rest)."""
        while self._pending:
            table, row = self._pending[0]
            try:
                self._insert(db, {table: [row]})
                self.rows_written += 1
            except sqlite3.OperationalError:
                return
            except (sqlite3.Error, TypeError, ValueError) as exc:
                self.rejected += 1
                log.error("journal row rejected (%r), kept as text: %s %r", exc, table, row)
                self._insert(db, {"errors": [_rejected(table, row, exc)]})
            self._pending.pop(0)

    def _back_off(self, delay: float) -> bool:
        """Wait before the next attempt (a close cuts the wait short); True once a close has
        given up on the rows left."""
        if self._closing.is_set():
            time.sleep(min(delay, FIRST_BACKOFF_SEC))
        else:
            self._closing.wait(delay)
        return self._closing.is_set() and self._gave_up()

    def _gave_up(self) -> bool:
        """At close, after `close_timeout` of failing: what is still unwritten is lost."""
        if time.monotonic() - self._closing_at < self._close_timeout:
            return False
        lost = len(self._pending)
        while self._drain_one() is not None:
            lost += 1
        self.lost += lost
        log.critical("journal closed with %d row(s) that could not be written", lost)
        self._pending.clear()
        for marker in self._markers:
            marker.release(False)
        self._markers.clear()
        self._stopping = True
        return True

    def _drain_one(self) -> object | None:
        """The next queued row (markers released on the way), None once the queue is empty."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return None
            if isinstance(item, Flush):
                item.release(False)
            elif item is not STOP:
                return item


def _rejected(table: str, row: Mapping[str, object], exc: BaseException) -> dict[str, object]:
    now = time.time()
    return {
        "ts": now,
        "wall_ts": now,
        "run_id": row.get("run_id"),
        "origin": "journal",
        "error": f"row for {table} rejected: {exc!r}",
        "count": 1,
        "traceback": repr(dict(row))[:4000],
    }
