"""The SQLite journal (sqlite-utils, WAL): every signal, order, fill, refusal, command, alert.

`record` only puts the row on a queue; a dedicated writer thread inserts in batches, so the
event loop never waits on the disk. `flush` (or `aflush` from async code) waits until what was
queued is written; `close` flushes, so a clean stop loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import re
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import sqlite_utils

log = logging.getLogger(__name__)

TEXT, REAL, INT = str, float, int
SCHEMA: dict[str, dict[str, type]] = {
    "signals": {
        "symbol": TEXT,
        "z": REAL,
        "vol": REAL,
        "side": TEXT,
        "price": REAL,
        "action": TEXT,
    },
    "orders": {
        "client_order_id": TEXT,
        "symbol": TEXT,
        "side": TEXT,
        "qty": INT,
        "type": TEXT,
        "tif": TEXT,
        "limit_price": REAL,
        "decision_price": REAL,
        "intent": TEXT,
    },
    "order_updates": {
        "client_order_id": TEXT,
        "status": TEXT,
        "filled_qty": INT,
        "avg_price": REAL,
        "reason": TEXT,
    },
    "fills": {
        "client_order_id": TEXT,
        "symbol": TEXT,
        "side": TEXT,
        "qty": INT,
        "price": REAL,
        "commission": REAL,
        "slippage_bps": REAL,
        "decision_price": REAL,
    },
    "refusals": {
        "client_order_id": TEXT,
        "symbol": TEXT,
        "rule": TEXT,
        "reason": TEXT,
        "intent": TEXT,
    },
    "latency": {"stage": TEXT, "ns": INT},
    "equity": {
        "equity": REAL,
        "cash": REAL,
        "realized": REAL,
        "unrealized": REAL,
        "drawdown": REAL,
    },
    "param_changes": {
        "param": TEXT,
        "old": TEXT,
        "new": TEXT,
        "user": TEXT,
        "action": TEXT,
        "applied_to_open": INT,
    },
    "commands": {
        "user": TEXT,
        "channel": TEXT,
        "surface": TEXT,
        "command": TEXT,
        "outcome": TEXT,
        "detail": TEXT,
    },
    "alerts": {"key": TEXT, "severity": TEXT, "message": TEXT, "status": TEXT},
    "slack_threads": {"key": TEXT, "channel": TEXT, "root_ts": TEXT},
    "errors": {"origin": TEXT, "error": TEXT, "count": INT, "traceback": TEXT},
    "anomalies": {"kind": TEXT, "detail": TEXT},
    "state_changes": {"state": TEXT, "reason": TEXT, "user": TEXT},
    "day_start": {"day": TEXT, "equity": REAL},  # each trading day's starting equity
    "adoptions": {"symbol": TEXT, "qty": INT, "avg_price": REAL, "user": TEXT},  # qty added
    "runs": {"event": TEXT, "detail": TEXT},
    "backtests": {
        "kind": TEXT,  # full | sweep | split-in | split-out
        "source": TEXT,
        "costs": INT,
        "params": TEXT,  # JSON
        "start_ts": REAL,
        "end_ts": REAL,
        "total_return": REAL,
        "annual_return": REAL,
        "sharpe": REAL,
        "max_drawdown": REAL,
        "trades": INT,
        "win_rate": REAL,
        "slippage_bps": REAL,
        "detail": TEXT,  # JSON: the whole report
    },
}
INDEXES = (
    ("fills", "ts"),
    ("orders", "client_order_id"),
    ("commands", "ts"),
    ("day_start", "day"),
)
SECRET = re.compile(r"(?:xox[abpr]|xapp)-[A-Za-z0-9-]+")  # Slack token shapes
_STOP = object()


class _Flush:
    """A marker on the queue: set once everything queued before it is written."""

    def __init__(self) -> None:
        self.done = threading.Event()


class Journal:
    def __init__(
        self, path: str | Path, flush_interval: float = 0.2, batch_size: int = 1000
    ) -> None:
        self.path = Path(path)
        self._interval = flush_interval
        self._batch_size = batch_size
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._read_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        self._closed = False
        self.rows_written = 0
        self.write_errors = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._writer, name="journal-writer", daemon=True)
        self._thread.start()
        self._ready.wait()

    def record(self, table: str, row: Mapping[str, object]) -> None:
        clean = {k: _redact(v) if type(v) is str else v for k, v in row.items()}
        clean.setdefault("ts", time.time())
        self._queue.put((table, clean))

    def flush(self, timeout: float = 10.0) -> None:
        if self._thread is None or not self._thread.is_alive():
            return
        marker = _Flush()
        self._queue.put(marker)
        marker.done.wait(timeout)

    async def aflush(self) -> None:
        await asyncio.to_thread(self.flush)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    # -- writer thread ---------------------------------------------------------------------

    def _writer(self) -> None:
        db = sqlite_utils.Database(self.path)
        db.execute("pragma journal_mode=wal")
        db.execute("pragma synchronous=normal")
        _create_schema(db)
        self._ready.set()
        stopping = False
        while not stopping:
            batch: dict[str, list[dict[str, object]]] = defaultdict(list)
            markers: list[_Flush] = []
            try:
                item = self._queue.get(timeout=self._interval)
            except queue.Empty:
                continue
            count = 0
            while True:
                if item is _STOP:
                    stopping = True
                elif isinstance(item, _Flush):
                    markers.append(item)
                else:
                    table, row = item  # type: ignore[misc]
                    batch[table].append(row)
                    count += 1
                if count >= self._batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(db, batch)
            for marker in markers:
                marker.done.set()
        db.close()

    def _write(
        self, db: sqlite_utils.Database, batch: Mapping[str, list[dict[str, object]]]
    ) -> None:
        for attempt in (1, 2):
            try:
                with db.conn:
                    for table, rows in batch.items():
                        db[table].insert_all(rows, alter=True)  # type: ignore[union-attr]
                self.rows_written += sum(len(rows) for rows in batch.values())
                return
            except sqlite3.Error:
                self.write_errors += 1
                log.exception("journal write failed (attempt %d)", attempt)

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


def _create_schema(db: sqlite_utils.Database) -> None:
    for table, columns in SCHEMA.items():
        if not db[table].exists():
            db[table].create({"id": int, "ts": float, **columns}, pk="id")  # type: ignore[union-attr]
    for table, column in INDEXES:
        db[table].create_index([column], if_not_exists=True)  # type: ignore[union-attr]


def _redact(value: str) -> str:
    """A Slack token anywhere in a string (an error message quoting a request...) is cut."""
    if "xox" not in value and "xapp-" not in value:
        return value
    redacted = SECRET.sub("[redacted]", value)
    if redacted != value:
        log.error("a secret-looking value was about to be journaled; redacted")
    return redacted
