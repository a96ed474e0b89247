"""A simulated feed waits for the journal: a replay's orders and fills do not depend on how
fast this machine writes, and a journal that falls behind does not stop entries (REDUCING),
as it must live, where the market does not wait."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path

import sqlite_utils

from bot.venues import build_sim
from ops.config.settings import load_settings
from ops.journal.journal import Journal
from ops.service.service import TradingService
from strategy.types import TradingState
from tests.support import eventually, write_config
from tests.test_replay import history_csv

SYMBOLS = ["SPY", "QQQ", "IWM"]
MAX_QUEUE = 20  # a replay of one session journals ~170 rows: far more than this at once
SLOW_BATCH_SEC = 0.02


class SlowJournal(Journal):
    """A writer on a disk far slower than the feed: each batch of 5 rows takes 20 ms."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, batch_size=5, max_queue=MAX_QUEUE)

    def _write(
        self, db: sqlite_utils.Database, batch: Mapping[str, list[dict[str, object]]]
    ) -> None:
        time.sleep(SLOW_BATCH_SEC)  # on the writer thread: the slowness under test
        super()._write(db, batch)


class FastJournal(Journal):
    def __init__(self, path: Path) -> None:
        super().__init__(path, max_queue=MAX_QUEUE)


def compose(folder: Path, data: Path, journal_type: type[Journal]) -> TradingService:
    """`run --data FILE --speed 0` as the composition root wires it, on this journal."""
    folder.mkdir()
    settings = load_settings(write_config(folder, **{"strategy.symbols": SYMBOLS}))
    venue = build_sim(settings, str(data), 0)
    journal = journal_type(folder / "journal.db")
    journal.start()
    service = venue.account(settings, journal).service
    venue.hold_feed_while(journal.behind)
    return service


def journaled(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as db:
        orders = db.execute("select client_order_id, symbol, side, qty from orders order by id")
        fills = db.execute("select client_order_id, qty, price from fills order by id")
        return {"orders": orders.fetchall(), "fills": fills.fetchall()}


async def replay(folder: Path, data: Path, journal_type: type[Journal]) -> dict[str, object]:
    """The replay to its end: the trading state, incidents, refusals, orders and fills."""
    service = compose(folder, data, journal_type)
    await service.start()
    await eventually(lambda: service.feed_ended, within=60)
    state, alerts = service.gate.state, set(service.open_alerts)
    summary = await service.stop()
    outcome: dict[str, object] = {"state": state, "alerts": alerts, "refusals": summary.refusals}
    return outcome | journaled(service.journal.path)


async def test_a_slow_journal_gives_the_same_orders_as_a_fast_one(tmp_path: Path) -> None:
    """The replay waits while the slow writer catches up: no `journal` incident, no REDUCING,
    and the same orders and fills, one for one, as with a fast writer."""
    data = history_csv(tmp_path)
    fast = await replay(tmp_path / "fast", data, FastJournal)
    slow = await replay(tmp_path / "slow", data, SlowJournal)
    assert fast["orders"], "the replay placed no order: nothing compared"
    assert slow["state"] is TradingState.ACTIVE and "journal" not in slow["alerts"]
    assert slow == fast
