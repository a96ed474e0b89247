"""Bar sources: seeded synthetic minute bars, or a bar file (CSV) loaded whole and checked, the
one loader of `backtest --data`, `run --data` and the Alpaca cache."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from strategy.market_day import session_times
from strategy.types import Bar
from strategy.venues.bar_arrow import lines_of_rows, read_columnar
from strategy.venues.bar_checks import BarDataError, Problems, find, judge
from strategy.venues.bar_columns import COLUMNS, BarColumns

__all__ = ["COLUMNS", "BarDataError", "LoadedBars", "load_bars", "synthetic_bars"]
CHUNK = 256  # timestamps generated per numpy batch
FAIR_SIGMA = 0.0003  # slow random walk of the fair value, per bar (3 bps)
DEVIATION_PHI = 0.85  # the mean-reverting deviation keeps 85% of itself per bar
DEVIATION_SIGMA = 0.0006
SHOCK_PROB = 0.01
SHOCK_SIGMA = 0.004
GAP_SIGMA = 0.0012  # next open vs previous close
WICK_SIGMA = 0.0004


def synthetic_bars(
    symbols: Sequence[str],
    seed: int,
    start_ts: float,
    bar_sec: int = 60,
    count: int | None = None,
    base_prices: Mapping[str, float] | None = None,
    sessions: bool = False,
) -> Iterator[Bar]:
    """Round-robin bars (every symbol at t, then t + bar_sec) whose log price is a slow random
    walk plus an Ornstein-Uhlenbeck deviation with occasional shocks, so that z-scores of the
    latest return cross +-2 regularly and revert. `count` = bars per symbol (None = endless).
    With `sessions`, t runs through New York sessions only (`session_times`), else on and on."""
    rng = np.random.default_rng(seed)
    n = len(symbols)
    base = base_prices or {}
    fair = np.log([base.get(s, float(rng.uniform(50, 500))) for s in symbols])
    deviation = np.zeros(n)
    close = np.exp(fair)
    emitted = 0
    times = session_times(start_ts, bar_sec) if sessions else itertools.count(start_ts, bar_sec)
    while count is None or emitted < count:
        k = CHUNK if count is None else min(CHUNK, count - emitted)
        fair_steps = rng.normal(0.0, FAIR_SIGMA, (k, n))
        noise = rng.normal(0.0, DEVIATION_SIGMA, (k, n))
        shocks = rng.normal(0.0, SHOCK_SIGMA, (k, n)) * (rng.random((k, n)) < SHOCK_PROB)
        gaps = np.exp(rng.normal(0.0, GAP_SIGMA, (k, n)))
        wicks = np.exp(np.abs(rng.normal(0.0, WICK_SIGMA, (k, n, 2))))
        volumes = rng.integers(100, 5000, (k, n))
        for i in range(k):
            fair += fair_steps[i]
            deviation = deviation * DEVIATION_PHI + noise[i] + shocks[i]
            opens = close * gaps[i]
            close = np.exp(fair + deviation)
            ts = next(times)
            for j, symbol in enumerate(symbols):
                o, c = float(opens[j]), float(close[j])
                yield Bar(
                    symbol,
                    ts,
                    round(o, 4),
                    round(max(o, c) * wicks[i, j, 0], 4),
                    round(min(o, c) / wicks[i, j, 1], 4),
                    round(c, 4),
                    float(volumes[i, j]),
                )
        emitted += k


@dataclass(frozen=True)
class LoadedBars:
    bars: BarColumns
    warnings: tuple[str, ...]  # what was accepted but should be known, e.g. a dropped repeat


def load_bars(path: str | Path, *, columnar: bool = True) -> LoadedBars:
    """The whole file, checked (bar_checks): refused with a BarDataError naming the first bad
    rows, or the bars and warnings. A plain file is read by the columnar reader; anything it
    cannot read, and the line numbers of a file with problems when its rows are not one per
    line, come from the row reader (`columnar=False`: only that one), so a file gets the same
    verdict either way."""
    path = Path(path)
    bars = read_columnar(path) if columnar else None
    if bars is not None:
        found = find(bars)
        if not found:
            return LoadedBars(bars, ())
        lines = lines_of_rows(path, len(bars))
        if lines is not None:
            return LoadedBars(*judge(path.name, bars, found, lines.item, Problems()))
    rows, line_of, parsed = _read_rows(path)
    return LoadedBars(*judge(path.name, rows, find(rows), line_of.__getitem__, parsed))


def _timestamp(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _read_rows(path: Path) -> tuple[BarColumns, list[int], Problems]:
    """(the rows that parse, as columns; each one's line number; the rows that do not).
    A UTF-8 BOM (Excel's "CSV UTF-8") is skipped, and so are blank lines, as the columnar
    reader skips them; bytes that are not UTF-8 matter only in the columns used."""
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        return _parse(path.name, csv.reader(handle))


def _parse(name: str, reader: Iterator[list[str]]) -> tuple[BarColumns, list[int], Problems]:
    header = next(reader, [])
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise BarDataError(f"{name}: missing column(s) {', '.join(missing)}")
    twice = [c for c in COLUMNS if header.count(c) > 1]
    if twice:
        raise BarDataError(f"{name}: column(s) {', '.join(twice)} named twice in the header")
    at = [header.index(c) for c in COLUMNS]
    width = len(header)
    problems = Problems()
    lines: list[int] = []
    codes: dict[str, int] = {}
    code: list[int] = []
    values: list[list[float]] = [[] for _ in range(6)]  # ts, open, high, low, close, volume
    for row in reader:
        if not row:
            continue
        line = reader.line_num  # type: ignore[attr-defined]
        if len(row) != width:
            problems.add(line, f"{len(row)} fields where the header has {width}")
            continue
        parsed = _row(row, at)
        if isinstance(parsed, str):
            problems.add(line, parsed)
            continue
        symbol, numbers = parsed
        lines.append(line)
        code.append(codes.setdefault(symbol, len(codes)))
        for column, number in zip(values, numbers, strict=True):
            column.append(number)
    columns = (np.asarray(c, np.float64) for c in values)
    return BarColumns(tuple(codes), np.asarray(code, np.int32), *columns), lines, problems


def _row(row: list[str], at: list[int]) -> tuple[str, list[float]] | str:
    """(symbol, [ts, open, high, low, close, volume]), or what is wrong with the row."""
    text = row[at[0]]
    try:
        numbers = [_timestamp(text)]
    except ValueError:
        return f"timestamp {text!r} is not ISO 8601 or epoch seconds"
    for column, index in zip(COLUMNS[2:], at[2:], strict=True):
        try:
            numbers.append(float(row[index]))
        except ValueError:
            return f"{column} {row[index]!r} is not a number"
    symbol = row[at[1]].strip().upper()
    if not symbol:
        return "symbol is empty"
    if not symbol.isprintable():  # bytes that are not UTF-8 read as surrogates
        return f"symbol {row[at[1]]!r} is not UTF-8 text (save the file as CSV UTF-8)"
    return symbol, numbers
