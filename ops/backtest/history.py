"""Where a backtest's bars come from: a CSV, the synthetic generator, or Alpaca's historical
minute bars (fetched once, then read from a local CSV cache)."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

from strategy.market_day import NEW_YORK
from strategy.types import Bar
from strategy.venues.bars import COLUMNS, LoadedBars, load_bars, synthetic_bars

MINUTES_PER_SESSION = 390


def from_csv(path: str | Path) -> LoadedBars:
    """The whole file as columns (a sequence of bars), checked, with its warnings."""
    return load_bars(path)


def sessions_before(today: date, count: int) -> list[float]:
    """Epoch seconds of the 09:30 New York opens of the `count` weekdays before `today`,
    oldest first (exchange holidays are not skipped)."""
    opens: list[float] = []
    day = today
    while len(opens) < count:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            opens.append(datetime(day.year, day.month, day.day, 9, 30, tzinfo=NEW_YORK).timestamp())
    return opens[::-1]


def synthetic(
    symbols: Sequence[str], seed: int, days: float, today: date | None = None
) -> list[Bar]:
    """`days` sessions' worth of seeded minute bars: 390 a session from 09:30 New York on the
    weekdays before today, so nights and weekends are not traded as if they were minutes."""
    count = int(days * MINUTES_PER_SESSION)
    today = today if today is not None else datetime.now(NEW_YORK).date()
    first = sessions_before(today, -(-count // MINUTES_PER_SESSION))[0]
    return list(synthetic_bars(symbols, seed, first, count=count, sessions=True))


def cache_path(folder: Path, symbols: Sequence[str], start: str, end: str, feed: str) -> Path:
    key = hashlib.sha256(f"{','.join(sorted(symbols))}|{start}|{end}|{feed}".encode()).hexdigest()
    return folder / f"alpaca-{start}-{end}-{feed}-{key[:12]}.csv"


def from_alpaca(
    symbols: Sequence[str],
    start: str,
    end: str,
    api_key: str,
    secret_key: str,
    data_url: str,
    feed: str,
    cache_folder: Path,
    timeout_sec: float,
) -> tuple[LoadedBars, Path, bool]:
    """(bars, cache file, whether it came from the cache). Blocking: run it in a thread.
    `start` and `end` are dates (YYYY-MM-DD, UTC). Fetched bars are read back from the cache
    file they were written to: checked as any bar file, and the same bars as a cached run's."""
    # imported here: a backtest of a file never loads alpaca-py
    from strategy.venues.alpaca.minute_bars import fetch_minute_bars

    path = cache_path(cache_folder, symbols, start, end, feed)
    if path.is_file():
        return from_csv(path), path, True
    bars = fetch_minute_bars(
        list(symbols), start, end, api_key, secret_key, data_url, feed, timeout_sec
    )
    cache_folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with partial.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for b in bars:
            writer.writerow([b.ts, b.symbol, b.open, b.high, b.low, b.close, b.volume])
    partial.replace(path)  # a cache file is whole or absent
    return from_csv(path), path, False
