"""P&L by period from the journal, with New York period boundaries, hand-computed figures."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from bot.render_text import render
from ops.journal.pnl import period_start
from ops.shared.results import PnlResult
from strategy.market_day import NEW_YORK
from strategy.types import (
    Fill,
    Intent,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)
from tests.support import Harness, make_harness


def ny(*args: int) -> float:
    return datetime(*args, tzinfo=NEW_YORK).timestamp()  # type: ignore[misc]


DAY1 = ny(2026, 1, 2, 10, 0)  # a Friday
DAY2 = ny(2026, 1, 5, 10, 0)  # the Monday after


def fill(h: Harness, side: Side, qty: int, price: float, ts: float) -> None:
    """One order filled at once, through the real book (which journals the fill)."""
    oid = f"{side}-{qty}-{ts}"
    request = OrderRequest(
        oid, "SPY", side, qty, OrderType.MARKET, TimeInForce.DAY, None, price, Intent.ENTRY, ts
    )
    h.service.book.add_order(request, None)
    execution = Fill(oid, "SPY", side, qty, price, qty * 0.01, ts)
    h.service.book.apply(OrderUpdate(oid, "SPY", OrderStatus.FILLED, qty, price, ts, execution))


async def two_days(tmp_path: Path) -> Harness:
    """Day 1: buy 100 @ 100, sell 40 @ 110, close marked at 105. Day 2: sell 60 @ 104, buy 50
    @ 102, marked at 103. Commission $0.01 a share."""
    h = make_harness(tmp_path)
    book = h.service.book
    fill(h, Side.BUY, 100, 100.0, DAY1)
    fill(h, Side.SELL, 40, 110.0, DAY1 + 60)
    book.mark("SPY", 105.0, DAY1 + 6 * 3600)
    book.snapshot_equity(DAY1 + 6 * 3600)
    fill(h, Side.SELL, 60, 104.0, DAY2)
    fill(h, Side.BUY, 50, 102.0, DAY2 + 60)
    book.mark("SPY", 103.0, DAY2 + 120)
    h.clock.set(DAY2 + 120)
    return h


async def test_pnl_today_shows_only_the_days_fills(tmp_path: Path) -> None:
    """Day 2: realized (104-100)*60 = 240; unrealized 50*(103-102) = 50 against 60*(105-100)
    = 300 at day 1's close; commissions 1.10; net 240 - 250 - 1.10 = -11.10 (equity's change
    since day 1's close too)."""
    h = await two_days(tmp_path)
    result = await h.run("pnl today")
    assert isinstance(result, PnlResult)
    assert result.since_ts == ny(2026, 1, 5)
    assert result.fills == 2
    assert result.realized == pytest.approx(240.0)
    assert result.commissions == pytest.approx(1.10)
    assert result.unrealized == pytest.approx(50.0)
    assert result.unrealized_change == pytest.approx(-250.0)
    assert result.pnl == pytest.approx(-11.10)
    assert result.equity == pytest.approx(100_687.50)
    assert "P&L today (since 2026-01-05 00:00 ET): -$11.10 net" in render(result)
    h.journal.close()


async def test_pnl_week_starts_monday_and_all_covers_both_days(tmp_path: Path) -> None:
    """The week began Monday (day 2): the same as today. All time: realized 400 + 240 = 640,
    commissions 2.50, unrealized 50 from flat, net 687.50 = equity - starting cash."""
    h = await two_days(tmp_path)
    week = await h.run("pnl week")
    assert isinstance(week, PnlResult)
    assert (week.fills, week.realized, week.since_ts) == (2, pytest.approx(240.0), ny(2026, 1, 5))
    everything = await h.run("pnl all")
    assert isinstance(everything, PnlResult)
    assert everything.since_ts == DAY1
    assert everything.fills == 4
    assert everything.realized == pytest.approx(640.0)
    assert everything.commissions == pytest.approx(2.50)
    assert everything.unrealized_change == pytest.approx(50.0)
    assert everything.pnl == pytest.approx(687.50)
    h.journal.close()


def test_periods_begin_at_new_york_midnight_and_monday() -> None:
    """23:30 New York on Sunday is already Monday in UTC, but still Sunday's period."""
    sunday_late = ny(2026, 1, 4, 23, 30)
    assert period_start("today", sunday_late) == ny(2026, 1, 4)
    assert period_start("week", sunday_late) == ny(2025, 12, 29)
    assert period_start("week", ny(2026, 1, 5, 0, 0)) == ny(2026, 1, 5)
    assert period_start("today", ny(2026, 7, 1, 12)) == ny(2026, 7, 1)  # daylight time
    assert period_start("all", sunday_late) == 0.0
