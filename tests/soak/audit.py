"""Settle-and-compare: the journal (what the service learned) against the loopback broker (what
happened). Pure functions over plain rows, plus the read-only journal query."""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CENT = 0.005  # "to the cent": a difference below half a cent


@dataclass(frozen=True, slots=True)
class JournalView:
    orders: list[dict[str, Any]]
    fills: list[dict[str, Any]]
    kills: list[str]  # the `runs` rows of event kill, their detail
    last_cash: float | None  # the book's cash at its last equity snapshot (written at stop)
    anomalies: dict[str, int]


def read_journal(path: Path) -> JournalView:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row

    def rows(sql: str) -> list[dict[str, Any]]:
        return [dict(r) for r in db.execute(sql)]

    try:
        orders = rows("select client_order_id, symbol, side, qty, intent from orders order by id")
        fills = rows("select client_order_id, symbol, side, qty, price from fills order by id")
        kills = [r["detail"] for r in rows("select detail from runs where event = 'kill'")]
        equity = rows("select cash from equity order by id desc limit 1")
        anomalies = Counter(r["kind"] for r in rows("select kind from anomalies"))
    finally:
        db.close()
    return JournalView(orders, fills, kills, equity[0]["cash"] if equity else None, dict(anomalies))


def journal_fills_by_order(fills: list[dict[str, Any]]) -> dict[str, tuple[int, float]]:
    """client_order_id -> (shares, notional) the journal holds."""
    out: dict[str, tuple[int, float]] = defaultdict(lambda: (0, 0.0))
    for f in fills:
        qty, notional = out[f["client_order_id"]]
        out[f["client_order_id"]] = (qty + int(f["qty"]), notional + int(f["qty"]) * f["price"])
    return dict(out)


def broker_fills_by_order(orders: list[dict[str, Any]]) -> dict[str, tuple[int, float]]:
    """client_order_id -> (shares, notional) the broker filled."""
    out = {}
    for o in orders:
        qty = int(o["filled_qty"])
        if qty:
            out[o["client_order_id"]] = (qty, qty * float(o["filled_avg_price"]))
    return out


def replay_book(
    starting_cash: float, fills: list[dict[str, Any]]
) -> tuple[float, dict[str, tuple[int, float]]]:
    """Cash and positions (qty, average price) from the journal's fills alone, with average
    cost as the broker keeps it (a flip opens at the fill price)."""
    cash = starting_cash
    positions: dict[str, tuple[int, float]] = {}
    for f in fills:
        signed = int(f["qty"]) * (1 if f["side"] == "buy" else -1)
        price = float(f["price"])
        held, avg = positions.get(f["symbol"], (0, 0.0))
        total = held + signed
        if total == 0:
            positions.pop(f["symbol"], None)
        elif held == 0 or (held > 0) == (signed > 0):
            positions[f["symbol"]] = (total, (avg * held + price * signed) / total)
        else:
            positions[f["symbol"]] = (total, avg if (total > 0) == (held > 0) else price)
        cash -= signed * price
    return cash, positions


@dataclass
class Audit:
    """The soak's verdict: every figure it prints, and the checks that failed."""

    figures: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.failures.append(message)


def duplicates(broker_orders: list[dict[str, Any]]) -> list[str]:
    """Orders placed twice: one client_order_id placed more than once, or one strategy decision
    (symbol, bar, any intent: `tb-SYM-TS-x`) placed under two ids."""
    ids = Counter(o["client_order_id"] for o in broker_orders)
    found = [f"{coid} placed {n} times" for coid, n in ids.items() if n > 1]
    decisions = Counter(
        coid.rsplit("-", 1)[0] for coid in ids if coid.startswith("tb-") and coid.count("-") >= 3
    )
    found += [f"decision {d} placed as {n} orders" for d, n in decisions.items() if n > 1]
    return found


def fill_differences(
    broker: dict[str, tuple[int, float]], journal: dict[str, tuple[int, float]]
) -> tuple[list[str], list[str]]:
    """(lost, extra): broker fills missing from the journal, journal fills beyond the broker's
    (counted twice, or at another price), per order, to the share and the cent."""
    lost, extra = [], []
    for coid in sorted(set(broker) | set(journal)):
        b_qty, b_notional = broker.get(coid, (0, 0.0))
        j_qty, j_notional = journal.get(coid, (0, 0.0))
        if j_qty < b_qty:
            lost.append(f"{coid}: broker filled {b_qty}, journal has {j_qty}")
        elif j_qty > b_qty:
            extra.append(f"{coid}: broker filled {b_qty}, journal has {j_qty}")
        elif abs(j_notional - b_notional) >= CENT:
            extra.append(f"{coid}: notional ${j_notional:.2f} in the journal, ${b_notional:.2f}")
    return lost, extra


def position_mismatches(
    book: dict[str, tuple[int, float]], broker: dict[str, tuple[int, float]]
) -> list[str]:
    out = []
    for symbol in sorted(set(book) | set(broker)):
        b_qty, b_avg = book.get(symbol, (0, 0.0))
        x_qty, x_avg = broker.get(symbol, (0, 0.0))
        if b_qty != x_qty or abs(b_avg - x_avg) >= CENT:
            out.append(f"{symbol}: book {b_qty:+d} @ {b_avg:.4f}, broker {x_qty:+d} @ {x_avg:.4f}")
    return out
