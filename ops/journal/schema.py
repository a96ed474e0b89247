"""What the journal holds: its tables, their columns, the stamps on every row and the indexes
every recovery and query path reads by; `create_schema` brings any journal up to date."""

from __future__ import annotations

import sqlite_utils

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
    # qty: the shares the book bought; avg_price: what it paid each (the market price)
    "adoptions": {"symbol": TEXT, "qty": INT, "avg_price": REAL, "user": TEXT},
    # the operator's P&L inside the account, in the broker's cash but never the book's: their
    # shares' gain until adopted, their own orders' realized P&L and commissions
    "operator_pnl": {"symbol": TEXT, "amount": REAL, "reason": TEXT},
    "charges": {"amount": REAL, "reason": TEXT, "ref": TEXT},  # outside fills; dividends < 0
    "runs": {"event": TEXT, "detail": TEXT},  # a run's events: start, stop, notice, kill...
    "run_info": {"pid": INT, "host": TEXT, "venue": TEXT, "config": TEXT},  # one row per run
    "backtests": {
        "kind": TEXT,  # full | reference | sweep | grid | split-in | split-out
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
# On every row of every table, stamped by `record`: which run wrote it, and when (wall clock).
STAMPS: dict[str, type] = {"run_id": TEXT, "wall_ts": REAL}
# Every recovery and query path has an index: recovery looks orders up by client_order_id,
# reads the drawdown peak and the day's start; the checklist, drift and P&L read by time, kind
# or key. `create_schema` adds missing ones to an existing journal at every start.
INDEXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("fills", ("ts",)),
    ("fills", ("client_order_id",)),
    ("orders", ("client_order_id",)),
    ("order_updates", ("client_order_id", "status")),
    ("commands", ("ts",)),
    ("day_start", ("day",)),
    ("equity", ("ts",)),
    ("equity", ("equity",)),
    ("alerts", ("key",)),
    ("runs", ("event",)),
    ("backtests", ("kind",)),
    ("slack_threads", ("channel",)),
    ("adoptions", ("ts",)),
)


def create_schema(db: sqlite_utils.Database) -> None:
    """Missing tables are created; an existing journal gains the columns it lacks (run_id and
    wall_ts on journals older than them), so every row from now on has them."""
    for table, columns in SCHEMA.items():
        wanted = {"id": int, "ts": float, **STAMPS, **columns}
        if not db[table].exists():
            db[table].create(wanted, pk="id")  # type: ignore[union-attr]
            continue
        have = set(db[table].columns_dict)  # type: ignore[union-attr]
        for name, kind in wanted.items():
            if name not in have:
                db[table].add_column(name, kind)  # type: ignore[union-attr]
    for table, columns in INDEXES:
        db[table].create_index(list(columns), if_not_exists=True)  # type: ignore[union-attr]
