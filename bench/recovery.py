"""Figure 7: start-up recovery's journal queries on a journal of 100,000 orders (most finished,
a few still working): the unfinished orders, the fills of each, the expected positions, the
day's start and the drawdown peak, as ops/service/recovery.py runs them. Baseline: the same journal
with its indexes dropped (the queries stopped after a cap, the old cost being quadratic)."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.common import START, Figure, symbols
from ops.journal.journal import Journal
from ops.service.recovery import DAY_START, EXPECTED_POSITIONS, JOURNALED_FILLS, PEAK, UNFINISHED

ORDERS = 100_000
UNFINISHED_ORDERS = 20
RUNS = 3
TARGET_SEC = 1.0
BASELINE_CAP_SEC = 30.0


def build(path: Path) -> None:
    """The journal a long run leaves: per order its row, a new, an accepted and (for all but
    the last few) a filled update with its fill; an equity snapshot a minute."""
    journal = Journal(path)
    journal.start()  # the real schema and indexes
    journal.close()
    names = symbols(50)
    orders, updates, fills, equity = [], [], [], []
    for i in range(ORDERS):
        oid, symbol, ts = f"bench-{i:06d}", names[i % len(names)], START + i
        side = "buy" if i % 2 == 0 else "sell"
        orders.append((ts, oid, symbol, side, 10, "market", "day", None, 100.0, "entry"))
        updates += [(ts, oid, "new", 0, None), (ts, oid, "accepted", 0, None)]
        if i < ORDERS - UNFINISHED_ORDERS:
            updates.append((ts + 1, oid, "filled", 10, 100.0))
            fills.append((ts + 1, oid, symbol, side, 10, 100.0, 0.1, 1.0, 100.0))
        if i % 60 == 0:
            equity.append((ts, 100_000.0 + i % 997, 100_000.0, 0.0, 0.0, 0.0))
    with sqlite3.connect(path) as db:
        db.executemany(
            "insert into orders (ts, client_order_id, symbol, side, qty, type, tif, "
            "limit_price, decision_price, intent) values (?,?,?,?,?,?,?,?,?,?)",
            orders,
        )
        db.executemany(
            "insert into order_updates (ts, client_order_id, status, filled_qty, avg_price) "
            "values (?,?,?,?,?)",
            updates,
        )
        db.executemany(
            "insert into fills (ts, client_order_id, symbol, side, qty, price, commission, "
            "slippage_bps, decision_price) values (?,?,?,?,?,?,?,?,?)",
            fills,
        )
        db.executemany(
            "insert into equity (ts, equity, cash, realized, unrealized, drawdown) "
            "values (?,?,?,?,?,?)",
            equity,
        )
        db.execute(
            "insert into day_start (ts, day, equity) values (?, '2026-01-02', 1e5)", (START,)
        )


def recovery_queries(path: Path, cap: float | None = None) -> float | None:
    """Seconds for recovery's reads (None if stopped at `cap`)."""
    db = sqlite3.connect(path)
    started = time.perf_counter()
    if cap is not None:
        db.set_progress_handler(lambda: time.perf_counter() - started > cap, 100_000)
    try:
        unfinished = db.execute(UNFINISHED).fetchall()
        for row in unfinished:
            db.execute(JOURNALED_FILLS, (row[2],)).fetchall()
        db.execute(EXPECTED_POSITIONS).fetchall()
        db.execute(DAY_START, ("2026-01-02",)).fetchall()
        db.execute(PEAK).fetchall()
    except sqlite3.OperationalError:  # interrupted by the progress handler
        return None
    finally:
        db.close()
    assert len(unfinished) == UNFINISHED_ORDERS
    return time.perf_counter() - started


def drop_indexes(path: Path) -> None:
    with sqlite3.connect(path) as db:
        names = db.execute("select name from sqlite_master where name like 'idx_%'").fetchall()
        for (name,) in names:
            db.execute(f"drop index [{name}]")


def measure() -> Figure:
    print(f"  [7] recovery reads on a journal of {ORDERS:,} orders ({UNFINISHED_ORDERS} working)")
    with tempfile.TemporaryDirectory() as folder:
        indexed, bare = Path(folder) / "indexed.db", Path(folder) / "bare.db"
        build(indexed)
        shutil.copy(indexed, bare)
        drop_indexes(bare)
        ours = sorted(recovery_queries(indexed) or 0.0 for _ in range(RUNS))[RUNS // 2]
        baseline = recovery_queries(bare, cap=BASELINE_CAP_SEC)
    if baseline is None:
        base_text, ratio = f"> {BASELINE_CAP_SEC:.0f} s (stopped; no indexes)", "> "
        baseline = BASELINE_CAP_SEC
    else:
        base_text, ratio = f"{baseline:.2f} s (no indexes)", ""
    return Figure(
        7,
        "start-up recovery reads, 100k orders",
        f"{ours * 1000:.0f} ms",
        base_text,
        f"{ratio}{baseline / ours:,.0f}x faster",
        f"< {TARGET_SEC:.0f} s",
        ours < TARGET_SEC,
    )
