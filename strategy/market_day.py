"""US equity trading days are New York calendar days; a session is 09:30-16:00 New York on a
weekday (exchange holidays are not known here)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
SESSION_SEC = 23_400  # 09:30 to 16:00


def trading_date(ts: float) -> str:
    """The New York date of an epoch timestamp, as YYYY-MM-DD."""
    return datetime.fromtimestamp(ts, NEW_YORK).date().isoformat()


def next_day_start(ts: float) -> float:
    """Epoch seconds of the next New York midnight after `ts`."""
    local = datetime.fromtimestamp(ts, NEW_YORK)
    midnight = datetime(local.year, local.month, local.day, tzinfo=NEW_YORK) + timedelta(days=1)
    return midnight.timestamp()


def day_bounds(ts: float) -> tuple[float, float]:
    """Epoch seconds of the New York midnights that start and end the date of `ts`: every
    timestamp in [start, end) has the same `trading_date`."""
    local = datetime.fromtimestamp(ts, NEW_YORK)
    midnight = datetime(local.year, local.month, local.day, tzinfo=NEW_YORK)
    return midnight.timestamp(), (midnight + timedelta(days=1)).timestamp()


def session_open(ts: float) -> float:
    """Epoch seconds of 09:30 New York time on the date of `ts`."""
    return _open_of(datetime.fromtimestamp(ts, NEW_YORK).date())


def _open_of(day: date) -> float:
    return datetime(day.year, day.month, day.day, 9, 30, tzinfo=NEW_YORK).timestamp()


def latest_session_open(ts: float) -> float:
    """09:30 New York on the date of `ts`, or on the Friday before when that date is a
    weekend: where a simulated session starts, whatever the wall clock says."""
    day = datetime.fromtimestamp(ts, NEW_YORK).date()
    return _open_of(day - timedelta(days=max(0, day.weekday() - 4)))


def session_times(start: float, bar_sec: int) -> Iterator[float]:
    """Start times of the bars of the sessions from `start` on (endless): each weekday's from
    09:30 New York while before 16:00, then the next weekday's. Nights and weekends have no
    bars, so a day's P&L starts with its session, as in the market."""
    day = datetime.fromtimestamp(start, NEW_YORK).date()
    while True:
        if day.weekday() < 5:
            opened = _open_of(day)
            for offset in range(0, SESSION_SEC, bar_sec):
                if opened + offset >= start:
                    yield opened + offset
        day += timedelta(days=1)


def market_time(ts: float, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A printed time: New York's clock, labelled ET (every time we print follows this rule)."""
    return f"{datetime.fromtimestamp(ts, NEW_YORK).strftime(fmt)} ET"
