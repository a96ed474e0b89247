"""What an order costs a backtest pass: the replay shows the engine only the bars where it may
act, and nothing builds a journal row the backtest's recorder drops. The decisions stay the
bar-by-bar replay's (tests/test_backtest_fast.py)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from ops.backtest.run import READ_TABLES, run
from strategy.engine import Engine
from strategy.market_day import trading_date
from strategy.recorder import MemoryRecorder
from strategy.types import Bar
from strategy.venues.bar_columns import BarColumns
from tests.test_backtest_fast import _sessions, _setup


class AskedRecorder(MemoryRecorder):
    """A backtest's recorder (it keeps the fills alone) that also counts every table it was
    handed a row for."""

    def __init__(self) -> None:
        super().__init__(READ_TABLES)
        self.asked: dict[str, int] = {}

    def record(self, table: str, row: Mapping[str, object]) -> None:
        self.asked[table] = self.asked.get(table, 0) + 1
        super().record(table, row)


async def test_a_backtest_builds_no_order_row_its_recorder_drops() -> None:
    """Signals, orders and order updates are neither built nor handed over when the recorder
    keeps only fills; the fills still are."""
    recorder = AskedRecorder()
    outcome = await run(BarColumns.of(_sessions(3, days=2)), _setup(3), recorder=recorder)
    assert outcome.orders > 20  # orders were made: their rows could have been
    assert recorder.asked.get("fills", 0) > 10
    assert not {"signals", "orders", "order_updates"} & set(recorder.asked)


@pytest.mark.parametrize("seed", [3, 29])
async def test_the_engine_sees_only_bars_where_it_may_act(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past a day's first bar, each bar shown to the engine finds its symbol with no working
    order and either flat with |z| past entry_z or held with |z| inside exit_z: a bar visited
    for an order that filled or was canceled there is not shown when nothing can follow."""
    setup = _setup(seed)
    bars = _sessions(seed, days=3)
    firsts: dict[str, float] = {}
    for b in bars:
        firsts.setdefault(trading_date(b.ts + setup.bar_sec), b.ts)
    day_starts = set(firsts.values())
    shown: list[tuple[bool, bool, float]] = []  # (working, held, z)
    on_bar = Engine.on_bar

    def watched(engine: Engine, bar: Bar, received_ns: int | None = None) -> None:
        stats = engine.stats(bar.symbol)
        if bar.ts not in day_starts and stats is not None and stats.ready:
            book = engine.book
            working = book.has_working_order(bar.symbol)
            shown.append((working, book.position(bar.symbol) is not None, stats.z))
        on_bar(engine, bar, received_ns)

    monkeypatch.setattr(Engine, "on_bar", watched)
    outcome = await run(BarColumns.of(bars), setup)
    assert outcome.orders > 20 and len(shown) >= outcome.orders
    params = setup.params
    idle = [
        (working, held, z)
        for working, held, z in shown
        if working or (abs(z) >= params.exit_z if held else abs(z) <= params.entry_z)
    ]
    assert idle == []
