"""Runs and time in the journal: a run id and the wall time on every row, runs told apart on one
journal (simulator order ids repeat by design), and a kill's own orders are no anomaly."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import sqlite_utils

from ops.journal.journal import Journal
from ops.journal.schema import SCHEMA
from tests.support import make_harness, write_config
from tests.test_cli import tradebot
from tests.test_kill_switch import FAST, Market, holding

MARKET_TS = 1_767_364_200.0  # a simulated bar's time, far from the wall clock


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


def test_every_row_carries_the_run_id_and_the_wall_time(tmp_path: Path) -> None:
    """`ts` stays the time the caller gives (market time); `wall_ts` is when it was recorded."""
    journal = Journal(tmp_path / "j.db", wall=lambda: 1_800_000_000.0)
    journal.start()
    journal.record("fills", {"ts": MARKET_TS, "symbol": "SPY", "qty": 1, "price": 1.0})
    journal.record("commands", {"command": "status"})
    journal.close()
    got = rows(
        tmp_path / "j.db",
        "select ts, wall_ts, run_id from fills union all select ts, wall_ts, run_id from commands",
    )
    assert got == [
        (MARKET_TS, 1_800_000_000.0, journal.run_id),
        (1_800_000_000.0, 1_800_000_000.0, journal.run_id),
    ]
    assert journal.run_id.startswith("20270115T")


def test_an_existing_journal_gains_the_run_columns(tmp_path: Path) -> None:
    """A journal made before runs existed gets run_id and wall_ts at start; new rows fill them."""
    old = sqlite_utils.Database(tmp_path / "j.db")
    for table, columns in SCHEMA.items():
        old[table].create({"id": int, "ts": float, **columns}, pk="id")  # type: ignore[union-attr]
    old["orders"].insert({"ts": 1.0, "client_order_id": "tb-old"})  # type: ignore[union-attr]
    old.close()
    journal = Journal(tmp_path / "j.db")
    journal.start()
    journal.record("orders", {"client_order_id": "tb-new"})
    journal.close()
    got = rows(tmp_path / "j.db", "select client_order_id, run_id from orders order by id")
    assert got == [("tb-old", None), ("tb-new", journal.run_id)]


def test_two_simulator_runs_on_one_journal_are_told_apart(tmp_path: Path) -> None:
    """Two `tradebot run`s replay the same session, so their order ids repeat; each has its own
    run_info row, and every fill joins exactly one order on (run_id, client_order_id)."""
    config = write_config(tmp_path)
    for _ in range(2):
        done = tradebot("run", "--config", str(config), "--duration", "3", "--speed", "0")
        assert done.returncode == 0, done.stderr
    db = tmp_path / "journal.db"
    runs = rows(
        db,
        "select run_id, venue, config like '%strategy.entry_z_threshold%' "
        "from run_info order by id",
    )
    assert [(venue, has_config) for _, venue, has_config in runs] == [("sim", 1), ("sim", 1)]
    first, second = (str(r[0]) for r in runs)
    assert first != second
    assert rows(db, "select count(*) from orders where run_id is null") == [(0,)]
    ids = {
        run: {r[0] for r in rows(db, f"select client_order_id from orders where run_id = '{run}'")}
        for run in (first, second)
    }
    assert ids[first] & ids[second]  # the same decisions at the same market times
    matches = rows(
        db,
        "select count(o.id) from fills f left join orders o "
        "on o.run_id = f.run_id and o.client_order_id = f.client_order_id group by f.id",
    )
    assert matches and all(n == 1 for (n,) in matches)


async def test_a_kill_writes_no_unknown_order_anomaly(tmp_path: Path) -> None:
    """The broker's close-all orders reach the book before their acks name them to the kill:
    they are the kill's own orders, tracked, and no `unknown_order` anomaly is journaled."""
    h = make_harness(tmp_path, **FAST)
    market = Market(h)
    await holding(h, market, SPY=10, QQQ=5)
    kill = asyncio.create_task(h.service.kill("U1"))
    await market.until(kill)
    assert kill.result().flat
    await h.service.stop()
    assert rows(tmp_path / "journal.db", "select kind, detail from anomalies") == []
    flatten = rows(tmp_path / "journal.db", "select count(*) from orders where intent='flatten'")
    assert flatten == [(2,)]
