"""What a careful quant checks in a bar file before trusting it, on whole columns at once (a
few milliseconds for 500,000 clean rows). Each check refuses the file or warns and goes on;
the README's table of bar file checks says which, and why."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from strategy.venues.bar_columns import BarColumns

MAX_NAMED = 5  # rows named in one message; the others are counted
PRICES = ("open", "high", "low", "close")

LineOf = Callable[[int], int]  # a row's line number in the file


class BarDataError(ValueError):
    """A bar file that cannot be used; the message names the file, the lines and the values."""


@dataclass
class Problems:
    """Rows the reader could not parse: the first few as (line, what is wrong), and a count."""

    named: list[tuple[int, str]] = field(default_factory=list)
    count: int = 0

    def add(self, line: int, text: str) -> None:
        self.count += 1
        if len(self.named) < MAX_NAMED:
            self.named.append((line, text))


@dataclass(frozen=True)
class Finding:
    rows: np.ndarray  # the rows concerned, ascending
    say: Callable[[int, LineOf], str]  # what is wrong with one of them
    refuses: bool
    summary: str = ""  # a warning's: what the rows are and what was done with them
    drops: bool = False  # a warning whose rows are left out of the bars


def _number(value: float) -> str:
    return f"{value:.10g}"


def _finite(values: np.ndarray, least: str = "any") -> bool:
    """Whether every value is finite (and, for least "positive" or "zero", > 0 or >= 0): two
    reductions and no mask, all a clean column costs. NaN fails every comparison."""
    low, high = values.min(), values.max()
    above = {"any": low > -np.inf, "positive": low > 0, "zero": low >= 0}[least]
    return bool(above and np.isfinite(high))


def find(bars: BarColumns) -> list[Finding]:
    """Every check on every row; empty for a clean file. Each mask is made only when a
    cheaper test of the whole column fails."""
    found: list[Finding] = []
    if not len(bars):
        return found

    def add(mask: np.ndarray, say: Callable[[int, LineOf], str]) -> None:
        rows = np.flatnonzero(mask)
        if len(rows):
            found.append(Finding(rows, say, refuses=True))

    ts = bars.ts
    if not _finite(ts):
        add(~np.isfinite(ts), lambda i, _: f"timestamp {_number(ts[i])} is not a time")
    back = np.zeros(len(ts), bool)
    back[1:] = ts[1:] < ts[:-1]
    add(back, lambda i, _: "timestamp goes back in time")
    for name in PRICES:
        values = getattr(bars, name)
        if not _finite(values, "positive"):
            add(
                ~(values > 0) | np.isinf(values),  # NaN fails the first
                lambda i, _, v=values, n=name: f"{n} {_number(v[i])} must be a positive number",
            )
    volume = bars.volume
    if not _finite(volume, "zero"):
        add(
            ~(volume >= 0) | np.isinf(volume),
            lambda i, _: f"volume {_number(volume[i])} must be a number >= 0",
        )
    high, low = bars.high, bars.low
    inverted = high < low
    add(inverted, lambda i, _: f"high {_number(high[i])} is below low {_number(low[i])}")
    found.extend(_duplicates(bars, back.any()))
    outside = _outside_range(bars) & ~inverted
    if outside.any():
        found.append(
            Finding(
                np.flatnonzero(outside),
                lambda i, _: _out_of_range(bars, i),
                refuses=False,
                summary="bar(s) with the open or close outside low..high, kept as they are",
            )
        )
    return found


def _outside_range(bars: BarColumns) -> np.ndarray:
    high, low = bars.high, bars.low
    return (bars.open > high) | (bars.open < low) | (bars.close > high) | (bars.close < low)


def _out_of_range(bars: BarColumns, i: int) -> str:
    high, low = float(bars.high[i]), float(bars.low[i])
    for name in ("open", "close"):
        value = float(getattr(bars, name)[i])
        if value > high:
            return f"{name} {_number(value)} is above high {_number(high)}"
        if value < low:
            return f"{name} {_number(value)} is below low {_number(low)}"
    return ""


def _duplicates(bars: BarColumns, unordered: bool) -> list[Finding]:
    """The same symbol at the same time twice: the repeat of an identical bar is dropped with a
    warning; a repeat with other values refuses the file (which one is right?)."""
    n = len(bars)
    if n < 2 or (not unordered and not _may_repeat(bars)):
        return []
    order = np.lexsort((bars.code, bars.ts))  # stable: repeats stay in file order
    ts, code = bars.ts[order], bars.code[order]
    repeat = np.zeros(n, bool)
    repeat[1:] = (ts[1:] == ts[:-1]) & (code[1:] == code[:-1])
    first_of_run = np.maximum.accumulate(np.where(repeat, 0, np.arange(n)))
    later, earlier = order[repeat], order[first_of_run[repeat]]
    columns = (bars.open, bars.high, bars.low, bars.close, bars.volume)
    same = np.logical_and.reduce([c[later] == c[earlier] for c in columns])
    sort = np.argsort(later)
    later, earlier, same = later[sort], earlier[sort], same[sort]
    first = dict(zip(later.tolist(), earlier.tolist(), strict=True))

    def conflict(i: int, line_of: LineOf) -> str:
        return (
            f"{bars.names[bars.code[i]]} at the same time as line {line_of(first[i])}, "
            "with other prices or volume"
        )

    def repeats(i: int, line_of: LineOf) -> str:
        return f"repeats line {line_of(first[i])}"

    found = []
    if (~same).any():
        found.append(Finding(later[~same], conflict, refuses=True))
    if same.any():
        summary = "duplicate bar(s) dropped (same symbol, time and values)"
        found.append(Finding(later[same], repeats, refuses=False, summary=summary, drops=True))
    return found


def _may_repeat(bars: BarColumns) -> bool:
    """Whether a symbol may appear twice at one time, for time-ordered bars, found without
    sorting: not when each row moves on in time or to a later symbol (in order of first
    appearance) than the row before, as files list every minute's symbols in one order."""
    ts, code = bars.ts, bars.code
    return not bool(((ts[1:] != ts[:-1]) | (code[1:] > code[:-1])).all())


def judge(
    name: str, bars: BarColumns, found: Sequence[Finding], line_of: LineOf, parsed: Problems
) -> tuple[BarColumns, tuple[str, ...]]:
    """(the bars to use, warnings), or BarDataError naming the first rows that refuse the file
    and how many there are."""
    refusing = [f for f in found if f.refuses]
    if refusing or parsed.count:
        raise BarDataError(_refusal(name, refusing, line_of, parsed))
    warnings = tuple(_warning(name, f, line_of) for f in found)
    dropped = [f.rows for f in found if f.drops]
    if dropped:
        keep = np.ones(len(bars), bool)
        keep[np.concatenate(dropped)] = False
        bars = bars.take(keep)
    return bars, warnings


def _refusal(name: str, found: Sequence[Finding], line_of: LineOf, parsed: Problems) -> str:
    rows = np.unique(np.concatenate([f.rows for f in found])) if found else np.empty(0, int)
    named: list[tuple[int, str]] = list(parsed.named)
    for row in rows[:MAX_NAMED].tolist():
        said = ", ".join(f.say(row, line_of) for f in found if _has(f.rows, row))
        named.append((line_of(row), said))
    named.sort()
    count = parsed.count + len(rows)
    if count == 1:
        line, text = named[0]
        return f"{name} line {line}: {text}"
    return f"{name}: {count:,} bad rows; " + _listed(named[:MAX_NAMED], count)


def _warning(name: str, finding: Finding, line_of: LineOf) -> str:
    rows = finding.rows[:MAX_NAMED].tolist()
    named = [(line_of(row), finding.say(row, line_of)) for row in rows]
    return f"{name}: {len(finding.rows):,} {finding.summary}; " + _listed(named, len(finding.rows))


def _listed(named: Sequence[tuple[int, str]], count: int) -> str:
    text = "; ".join(f"line {line}: {said}" for line, said in named)
    more = count - len(named)
    return f"{text}; and {more:,} more" if more > 0 else text


def _has(rows: np.ndarray, row: int) -> bool:
    at = int(np.searchsorted(rows, row))
    return at < len(rows) and int(rows[at]) == row
