"""The event replay: the live engine, risk gate, book and simulated broker, shown only the bars
where something can happen, with the statistics of every bar computed beforehand (features.py).

A bar can matter only if its symbol has a working order (it fills or cancels at this bar's
open), or is flat with |z| past the entry threshold, or holds a position with |z| inside the
exit threshold, or the bar opens a New York day (the day's starting equity); a bar seen for a
working order is shown to the engine only if, once the order filled or was canceled, the
symbol's new state lets it act there. Every other bar only moves prices: the book's and the
broker's marks are brought up to date lazily, before anything reads them, and the equity curve
is computed from the fills and the closes at the end. Submits run where the feed would have let
them run (its yields), so every order, fill and refusal is the one the bar-by-bar replay makes;
tests/test_backtest_fast.py checks that.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Coroutine
from heapq import heapify, heappop, heappush, heapreplace
from typing import Any

import numpy as np

from ops.backtest.features import PrecomputedStats, candidates, features
from strategy.book import Book
from strategy.clock import ManualClock
from strategy.engine import Engine
from strategy.engine_outputs import EngineCounters
from strategy.market_day import next_day_start, trading_date
from strategy.types import Bar
from strategy.venues.bar_columns import BarColumns
from strategy.venues.sim import SimBroker

YIELD_EVERY = 1000  # SimFeed's default: it also lets tasks run every this many bars
NEVER = 1 << 62

Progress = Callable[[int, int], None]


def run_submits(queued: list[Coroutine[Any, Any, None]]) -> None:
    """The submits queued so far, in order, each to its end, as the event loop would run their
    tasks at a yield (one queued meanwhile waits for the next). The simulated broker answers
    at once: a submit that waits is a defect, not something to wait for."""
    batch = queued[:]
    queued.clear()
    for submit in batch:
        # iterated, not sent to: its end raises no StopIteration to catch (~1 us an order);
        # a step it yields is a wait
        for _ in submit.__await__():
            submit.close()
            raise RuntimeError(
                "a backtest's submit waited: the simulated broker must answer at once"
            )


def fits(columns: BarColumns, known: np.ndarray, bar_sec: int) -> bool:
    """True when the bars' timing lets the engine's periodic work (equity, day start) fall on
    the first bar of every timestamp, which the replay assumes: time order, and distinct
    timestamps at least a bar apart."""
    ts = columns.ts
    if len(ts) == 0 or (np.diff(ts) < 0).any():
        return False
    steps = np.diff(ts[known])  # in time order: the distinct ones' steps, and zeros (no sort)
    return bool(((steps == 0) | (steps >= bar_sec)).all())


class Replay:
    """One pass over the bars. The engine must have been built with `stats=self.stats` and
    without periodic equity snapshots (the replay starts the days; `curve` is the curve)."""

    def __init__(
        self,
        columns: BarColumns,
        symbols: tuple[str, ...],
        lookback: int,
        vol_window: int,
        entry_z: float,
        exit_z: float,
        bar_sec: int,
    ) -> None:
        self._columns = columns
        self._bar_sec = bar_sec
        found = features(columns, symbols, lookback, vol_window)
        self.stats = {s: PrecomputedStats(f) for s, f in found.items()}
        codes = {name: i for i, name in enumerate(columns.names)}
        self._symbol_of = {codes[s]: s for s in symbols if s in codes}
        self._rows = {s: f.rows.tolist() for s, f in found.items()}
        self._entries, self._exits = {}, {}
        may_enter, may_exit = np.zeros(len(columns), np.uint8), np.zeros(len(columns), np.uint8)
        for s, f in found.items():
            entries, exits = candidates(f, entry_z, exit_z)
            self._entries[s], self._exits[s] = entries.tolist(), exits.tolist()
            may_enter[entries] = may_exit[exits] = 1
        self._may_enter = may_enter.tobytes()  # one byte per bar: is it in a pool, in O(1)
        self._may_exit = may_exit.tobytes()
        self._position = np.zeros(len(columns), np.int64)  # each bar's index within its symbol
        for f in found.values():
            self._position[f.rows] = np.arange(len(f.rows))
        known = np.isin(columns.code, list(self._symbol_of))
        self.known = known
        self.snapshots = self._snapshots(known)
        self._days = self._day_starts()
        ts = columns.ts
        new_ts = np.ones(len(ts), bool)
        new_ts[1:] = ts[1:] != ts[:-1]
        new_ts[::YIELD_EVERY] = True
        self._yields = np.flatnonzero(new_ts)  # where the feed lets tasks run, before that bar
        self.fill_bars: list[int] = []  # the bar each fill happened at

    def _snapshots(self, known: np.ndarray) -> np.ndarray:
        """The first known bar of each timestamp: where the engine snapshots equity."""
        rows = np.flatnonzero(known)
        first = np.ones(len(rows), bool)
        stamps = self._columns.ts[rows]
        first[1:] = stamps[1:] != stamps[:-1]
        return rows[first]

    def _day_starts(self) -> list[int]:
        now = self._columns.ts[self.snapshots] + self._bar_sec
        days, i = [], 0
        while i < len(now):
            days.append(int(self.snapshots[i]))
            i = int(np.searchsorted(now, next_day_start(float(now[i])), "left"))
        return days

    def run(
        self,
        engine: Engine,
        book: Book,
        counters: EngineCounters,
        broker: SimBroker,
        clock: ManualClock,
        progress: Progress | None,
    ) -> None:
        """`book` and `counters` are the engine's, handed over where it was built."""
        ts, open_, high, low, close, volume = self._columns.scalars()
        code = self._columns.codes()
        position = array("q", self._position.tobytes())  # not a list: see BarColumns.scalars
        symbol_of, rows, bar_sec = self._symbol_of, self._rows, self._bar_sec
        symbols = list(self.stats)
        marked = dict.fromkeys(symbols, -1)  # last bar whose close the marks hold

        held: list[str] = []  # symbols with a position: the only marks anything reads

        def mark_before(at: int) -> None:
            """Bring the marks of held symbols up to the bars before `at`."""
            for symbol in held:
                symbol_rows = rows[symbol]
                i = bisect_left(symbol_rows, at) - 1
                if i >= 0 and symbol_rows[i] > marked[symbol]:
                    g = symbol_rows[i]
                    marked[symbol] = g
                    broker.mark(symbol, close[g])  # nothing works there: only the price
                    book.mark(symbol, close[g], ts[g] + bar_sec)

        entries, exits = self._entries, self._exits
        may_enter, may_exit = self._may_enter, self._may_exit

        def first_after(pool: list[int], after: int) -> int:
            i = bisect_right(pool, after)
            return pool[i] if i < len(pool) else NEVER

        def next_event(symbol: str, after: int) -> int:
            if book.has_working_order(symbol):
                return first_after(rows[symbol], after)
            if book.position(symbol) is not None:
                return first_after(exits[symbol], after)
            return first_after(entries[symbol], after)

        upcoming = {s: next_event(s, -1) for s in symbols}
        heap = [(g, s) for s, g in upcoming.items() if g < NEVER]
        heapify(heap)
        days, day = [*self._days, NEVER], 0  # the day starts, then none
        yields = self._yields.tolist()
        stats, fill_bars = self.stats, self.fill_bars
        pending: set[str] = set()
        yield_at = NEVER
        total, report_every = len(ts), max(len(ts) // 20, 1)
        next_report = report_every
        queued: list[Coroutine[Any, Any, None]] = []
        engine.defer_submits(queued)
        while True:
            while heap and upcoming[heap[0][1]] != heap[0][0]:
                heappop(heap)  # superseded
            g = min(heap[0][0] if heap else NEVER, days[day])
            if yield_at < NEVER and yield_at <= g:
                if held:
                    mark_before(yield_at)
                clock.set(ts[yield_at - 1] + bar_sec)
                run_submits(queued)  # the submits decided since the last yield
                for symbol in pending:
                    if book.has_working_order(symbol):
                        continue  # sent: `upcoming` already is its next bar (no yield between)
                    following = next_event(symbol, yield_at - 1)
                    if following != upcoming[symbol]:  # the submit was refused
                        upcoming[symbol] = following
                        heappush(heap, (following, symbol))
                pending.clear()
                yield_at = NEVER
                continue
            if g == NEVER:
                break
            symbol = symbol_of[code[g]]
            if held:
                mark_before(g)
            clock.set(ts[g] + bar_sec)
            before = book.fills_count  # an attribute: no call on every bar
            broker.on_prices(symbol, open_[g], close[g])  # on_bar, without building a Bar
            if book.fills_count != before:
                fill_bars.extend([g] * (book.fills_count - before))
                held[:] = [p.symbol for p in book.positions()]
            day_starts = days[day] == g
            if day_starts:  # what the engine's periodic work would do
                day += 1
                book.mark(symbol, close[g], ts[g] + bar_sec)
                book.start_day(trading_date(ts[g] + bar_sec))
            # the bars next_event would visit next, and whether the engine may act at this one:
            # a bar seen only for the order that just filled or was canceled may not be its
            acts: bytes | None
            if book.has_working_order(symbol):
                pool, acts = rows[symbol], None
            elif book.position(symbol) is not None:
                pool, acts = exits[symbol], may_exit
            else:
                pool, acts = entries[symbol], may_enter
            if day_starts or (acts is not None and acts[g]):
                stats[symbol].at = position[g]  # only the engine reads it
                orders = counters.orders
                bar = Bar(symbol, ts[g], open_[g], high[g], low[g], close[g], volume[g])
                engine.on_bar(bar)  # moves no position: only an order it sends changes the pool
                marked[symbol] = g
                if counters.orders != orders:
                    pool = rows[symbol]  # it works until the symbol's next bar at least
                    pending.add(symbol)
                    if yield_at == NEVER:  # else one comes at or before this bar's
                        i = bisect_right(yields, g)
                        if i < len(yields):
                            yield_at = yields[i]
            i = bisect_right(pool, g)  # first_after, inlined: once a bar
            upcoming[symbol] = following = pool[i] if i < len(pool) else NEVER
            if heap and heap[0][0] == g:  # this bar's own entry (one bar, one symbol): reused
                if following < NEVER:
                    heapreplace(heap, (following, symbol))
                else:
                    heappop(heap)
            elif following < NEVER:
                heappush(heap, (following, symbol))
            if progress is not None and g >= next_report:
                try:
                    progress(g, total)
                except BaseException:  # the caller gave up (a preview stopped): no submit left
                    for submit in queued:
                        submit.close()
                    raise
                next_report = g + report_every
        mark_before(total)
        clock.set(ts[-1] + bar_sec)
        run_submits(queued)
        counters.bars = int(self.known.sum())
        counters.ignored_bars = total - counters.bars

    def curve(
        self, fills: list[dict[str, object]], starting_cash: float, end_ts: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """(timestamps, equity): what the engine would have snapshotted at the first bar of
        every timestamp (fills at that bar's open included, closes as marked so far), and at
        the end. Cash follows the book's own sums fill by fill, positions are valued at the
        last close."""
        columns = self._columns
        at = np.append(self.snapshots, len(columns))  # the end: after every bar
        fill_rows = np.asarray(self.fill_bars, np.int64)
        names = [str(f["symbol"]) for f in fills]
        signed = np.asarray(
            [(1 if f["side"] == "buy" else -1) * f["qty"] for f in fills],  # type: ignore[operator]
            np.int64,
        )
        price = np.asarray([f["price"] for f in fills], np.float64)
        commission = np.asarray([f["commission"] for f in fills], np.float64)
        cash = np.subtract.accumulate(
            np.concatenate(([starting_cash], signed * price + commission))
        )
        held = np.zeros(len(at))
        for symbol in dict.fromkeys(names):
            mine = np.asarray([n == symbol for n in names], bool)
            qty = np.concatenate(([0], np.cumsum(signed[mine])))
            qty = qty[np.searchsorted(fill_rows[mine], at, "right")]
            symbol_rows = np.asarray(self._rows[symbol], np.int64)
            last = np.searchsorted(symbol_rows, at, "right") - 1
            mark = columns.close[symbol_rows[np.maximum(last, 0)]]
            held = held + np.where(qty != 0, qty * mark, 0.0)
        equity = cash[np.searchsorted(fill_rows, at, "right")] + held
        times = np.append(columns.ts[self.snapshots] + self._bar_sec, end_ts)
        return times, equity
