"""US equity trading days are New York calendar days."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")


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
    local = datetime.fromtimestamp(ts, NEW_YORK)
    return datetime(local.year, local.month, local.day, 9, 30, tzinfo=NEW_YORK).timestamp()


def market_time(ts: float, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A printed time: New York's clock, labelled ET (every time we print follows this rule)."""
    return f"{datetime.fromtimestamp(ts, NEW_YORK).strftime(fmt)} ET"
