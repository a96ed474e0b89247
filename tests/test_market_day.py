"""New York trading days and sessions, and the risk gate's day count that rolls on them."""

from __future__ import annotations

from datetime import datetime, time

import pytest

from strategy.clock import ManualClock
from strategy.market_day import (
    NEW_YORK,
    day_bounds,
    latest_session_open,
    session_times,
    trading_date,
)
from strategy.params import RiskLimits
from strategy.risk import RiskGate


@pytest.mark.parametrize("day", ["2026-03-08", "2026-06-15", "2026-11-01"])  # DST, summer, DST
def test_day_bounds_hold_exactly_the_timestamps_of_one_trading_date(day: str) -> None:
    """Every timestamp in [start, end) has the date of `ts`; end is the next date's first."""
    noon = datetime.fromisoformat(f"{day}T12:00").replace(tzinfo=NEW_YORK).timestamp()
    for ts in range(int(noon) - 36 * 3600, int(noon) + 36 * 3600, 7 * 60 + 13):
        start, end = day_bounds(ts)
        assert start <= ts < end
        assert trading_date(start) == trading_date(end - 0.001) == trading_date(ts)
        assert trading_date(start - 0.001) != trading_date(ts) != trading_date(end)


def test_the_gate_day_count_follows_the_date_whichever_way_the_clock_moves() -> None:
    """Orders count toward their New York date; crossing midnight, forward or back, restarts it."""
    evening = datetime(2026, 3, 7, 23, 59, tzinfo=NEW_YORK).timestamp()
    clock = ManualClock(start=evening)
    gate = RiskGate(RiskLimits(), ["SPY"], clock)
    gate.record_sent(evening)
    gate.record_sent(evening + 30)
    assert gate.orders_today == 2
    clock.advance(60)  # 00:00 on the 8th
    assert gate.orders_today == 0
    gate.record_sent(clock.now())
    assert gate.orders_today == 1
    clock.jump(evening + 59)  # a wall clock stepped back over midnight
    assert gate.orders_today == 0


def _ny(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK).timestamp()


def test_a_simulated_session_starts_at_the_latest_weekday_open() -> None:
    """Today's 09:30 on a weekday (whatever the hour), Friday's on a weekend."""
    assert latest_session_open(_ny("2026-12-07T03:00")) == _ny("2026-12-07T09:30")  # Monday
    assert latest_session_open(_ny("2026-12-07T22:00")) == _ny("2026-12-07T09:30")
    assert latest_session_open(_ny("2026-12-05T12:00")) == _ny("2026-12-04T09:30")  # Saturday
    assert latest_session_open(_ny("2026-12-06T23:59")) == _ny("2026-12-04T09:30")  # Sunday


def test_session_times_skip_nights_and_weekends_across_a_clock_change() -> None:
    """Friday 2026-10-30's session, then Monday's after the fall-back to EST: 390 minutes each
    from 09:30 New York."""
    times = session_times(_ny("2026-10-30T09:30"), 60)
    friday, monday = [next(times) for _ in range(390)], next(times)
    assert datetime.fromtimestamp(friday[-1], NEW_YORK).time() == time(15, 59)
    assert monday == _ny("2026-11-02T09:30") and monday - friday[-1] == 3 * 86_400 - 389 * 60 + 3600
