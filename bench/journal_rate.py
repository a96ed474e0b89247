"""Figure 8: journal rows per second sustained: a producer records a mix of fills, order
updates, equity snapshots and latency samples faster than any disk takes them (the queue holds
them all), timed from the first record to the last row on disk: the writer's sustained rate.
Baseline: the same rows inserted by one connection with executemany in batches of the same
size, no queue, no thread."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

from bench.common import Figure
from ops.journal.journal import Journal

ROWS = 400_000
BATCH = 1000
RUNS = 3
TARGET = 50_000.0


def _row(i: int) -> tuple[str, dict[str, object]]:
    ts = 1_767_364_200.0 + i
    kind = i % 4
    if kind == 0:
        return "fills", {"ts": ts, "client_order_id": f"o{i}", "symbol": "SPY", "side": "buy",
                         "qty": 10, "price": 100.0, "commission": 0.1, "slippage_bps": 1.0,
                         "decision_price": 100.0}  # fmt: skip
    if kind == 1:
        return "order_updates", {"ts": ts, "client_order_id": f"o{i}", "status": "filled",
                                 "filled_qty": 10, "avg_price": 100.0, "reason": ""}  # fmt: skip
    if kind == 2:
        return "equity", {"ts": ts, "equity": 1e5, "cash": 1e5, "realized": 0.0,
                          "unrealized": 0.0, "drawdown": 0.0}  # fmt: skip
    return "latency", {"ts": ts, "stage": "ack", "ns": i}


def journal_rate(folder: Path, rows: list[tuple[str, dict[str, object]]]) -> float:
    # a queue that holds every row: the producer outruns the writer, which is what is timed
    journal = Journal(folder / f"rate-{time.monotonic_ns()}.db", batch_size=BATCH, max_queue=ROWS)
    journal.start()
    started = time.perf_counter()
    for table, row in rows:
        journal.record(table, row)
    assert journal.flush(timeout=300)
    elapsed = time.perf_counter() - started
    assert journal.rows_written == len(rows) and journal.dropped == 0
    journal.close()
    return len(rows) / elapsed


def raw_rate(folder: Path, rows: list[tuple[str, dict[str, object]]]) -> float:
    """The same rows through the same schema, straight from one connection."""
    path = folder / f"raw-{time.monotonic_ns()}.db"
    schema = Journal(path)
    schema.start()
    schema.close()
    db = sqlite3.connect(path)
    db.execute("pragma journal_mode=wal")
    db.execute("pragma synchronous=normal")
    started = time.perf_counter()
    for first in range(0, len(rows), BATCH):
        by_table: dict[str, list[dict[str, object]]] = {}
        for table, row in rows[first : first + BATCH]:
            by_table.setdefault(table, []).append(row)
        with db:
            for table, batch in by_table.items():
                columns = list(batch[0])
                db.executemany(
                    f"insert into {table} ({', '.join(columns)}) "
                    f"values ({', '.join('?' * len(columns))})",
                    [tuple(r[c] for c in columns) for r in batch],
                )
    elapsed = time.perf_counter() - started
    db.close()
    return len(rows) / elapsed


def measure() -> Figure:
    print(f"  [8] {ROWS:,} journal rows (fills, updates, equity, latency), median of {RUNS}")
    rows = [_row(i) for i in range(ROWS)]
    with tempfile.TemporaryDirectory() as folder:
        ours = sorted(journal_rate(Path(folder), rows) for _ in range(RUNS))[RUNS // 2]
        raw = sorted(raw_rate(Path(folder), rows) for _ in range(RUNS))[RUNS // 2]
    return Figure(
        8,
        "journal rows/s sustained",
        f"{ours:,.0f} rows/s",
        f"{raw:,.0f} rows/s (executemany, no queue)",
        f"{ours / raw:.2f} of raw sqlite",
        f">= {TARGET:,.0f} rows/s",
        ours >= TARGET,
    )
