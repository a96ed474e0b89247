"""The recent sessions a preview backtests: the bars the service already has, by New York
trading date. From the simulator's or a replay's feed (recorded as they pass, in memory), or
from Alpaca's history (fetched once a day through `history.from_alpaca`, which also keeps
them in its CSV cache)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ops.backtest import history
from strategy.market_day import NEW_YORK, SESSION_SEC, day_bounds, session_open, trading_date
from strategy.types import Bar


@dataclass(frozen=True, slots=True)
class Sessions:
    """Bars in time order and the trading dates they cover, oldest first."""

    dates: tuple[str, ...]
    bars: tuple[Bar, ...]


NO_SESSIONS = Sessions((), ())


class SessionSource(Protocol):
    async def last(self, count: int) -> Sessions:
        """The latest `count` complete sessions (fewer when there are fewer)."""
        ...


# A bar as RecentSessions keeps it: Bar's fields in order. A tuple of strings and floats is
# not tracked by the garbage collector; a Bar is, and a day of 5,000 symbols' bars made every
# full collection of the order manager scan them (130-270 ms, on the event loop).
_Row = tuple[str, float, float, float, float, float, float]


class RecentSessions:
    """A feed observer keeping the bars of the last `keep` sessions it saw. A session is
    complete once a later day's bar came, or its bars reached the 16:00 close."""

    def __init__(self, keep: int, bar_sec: int = 60) -> None:
        self._done: deque[tuple[str, list[_Row]]] = deque(maxlen=max(keep, 1))
        self._bar_sec = bar_sec
        self._date = ""
        self._current: list[_Row] = []
        self._day_end = -1.0
        self._close = 0.0

    def observe(self, bar: Bar) -> None:
        if bar.ts >= self._day_end:
            if self._current:
                self._done.append((self._date, self._current))
            start, self._day_end = day_bounds(bar.ts)
            self._date, self._current, self._close = (
                trading_date(bar.ts),
                [],
                session_open(start) + SESSION_SEC,
            )
        self._current.append(
            (bar.symbol, bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume)
        )

    def _complete(self) -> list[tuple[str, list[_Row]]]:
        done = list(self._done)
        if self._current and self._current[-1][1] + self._bar_sec >= self._close:
            done.append((self._date, self._current))
        return done

    async def last(self, count: int) -> Sessions:
        chosen = self._complete()[-count:] if count > 0 else []
        return Sessions(
            tuple(date for date, _ in chosen),
            tuple(Bar(*row) for _, rows in chosen for row in rows),
        )


def by_session(bars: Sequence[Bar], count: int) -> Sessions:
    """The last `count` trading dates of time-ordered bars."""
    dates = sorted({trading_date(b.ts) for b in bars})[-count:] if count > 0 else []
    if not dates:
        return NO_SESSIONS
    first = day_bounds(datetime.fromisoformat(dates[0]).replace(tzinfo=NEW_YORK).timestamp())[0]
    return Sessions(tuple(dates), tuple(b for b in bars if b.ts >= first))


Fetch = Callable[[Sequence[str], str, str], Sequence[Bar]]  # symbols, start, end (UTC dates)


class AlpacaSessions:
    """Alpaca's minute bars of the sessions before now, fetched in a worker thread once per
    UTC date (then from memory); the weekdays asked for leave room for holidays."""

    def __init__(
        self,
        symbols: Sequence[str],
        fetch: Fetch,
        now: Callable[[], float],
    ) -> None:
        self._symbols = tuple(symbols)
        self._fetch = fetch
        self._now = now
        self._cached: tuple[tuple[str, str, int], Sessions] | None = None
        self._lock = asyncio.Lock()  # two previews at once share one fetch

    def _range(self, count: int) -> tuple[str, str]:
        """(start, end) as UTC dates: from the first of `count` + 5 weekdays back, to today's
        UTC midnight, so a New York session still in progress stays out."""
        now = self._now()
        today = datetime.fromtimestamp(now, NEW_YORK).date()
        first = datetime.fromtimestamp(history.sessions_before(today, count + 5)[0], UTC)
        return first.date().isoformat(), datetime.fromtimestamp(now, UTC).date().isoformat()

    async def last(self, count: int) -> Sessions:
        if count <= 0:
            return NO_SESSIONS
        start, end = self._range(count)
        key = (start, end, count)
        async with self._lock:
            if self._cached is None or self._cached[0] != key:
                self._cached = (key, await asyncio.to_thread(self._sessions, key))
            return self._cached[1]

    def _sessions(self, key: tuple[str, str, int]) -> Sessions:
        """Fetched (or read from the CSV cache) and cut into sessions: a worker thread's."""
        start, end, count = key
        return by_session(self._fetch(self._symbols, start, end), count)


def alpaca_fetch(
    api_key: str,
    secret_key: str,
    data_url: str,
    feed: str,
    cache_folder: Path,
    timeout_sec: float,
) -> Fetch:
    """`history.from_alpaca` with the account's keys (held in memory only)."""

    def fetch(symbols: Sequence[str], start: str, end: str) -> Sequence[Bar]:
        loaded, _, _ = history.from_alpaca(
            symbols, start, end, api_key, secret_key, data_url, feed, cache_folder, timeout_sec
        )
        return loaded.bars

    return fetch
