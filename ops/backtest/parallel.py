"""Backtests in other processes: the frictionless pass beside the costed one (`Beside`), and
many backtests on the same bars across every core (a sweep: one worker process per core, each
given the bars and the statistics of every lookback once, computed once here)."""

from __future__ import annotations

import asyncio
import os
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import suppress
from multiprocessing import get_context
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import TYPE_CHECKING

from ops.backtest import chart
from ops.backtest.collector import tune_for_passes
from ops.backtest.features import Shared, adopt, share
from ops.backtest.metrics import Metrics, compute
from ops.backtest.run import Outcome, Progress, Setup, run
from strategy.types import Bar
from strategy.venues.bar_columns import BarColumns

if TYPE_CHECKING:
    from ops.backtest.chart import Line

_bars: BarColumns | None = None  # a worker's copy, set once by _receive


def _receive(columns: BarColumns, statistics: Shared) -> None:
    global _bars
    adopt(columns, statistics)
    _bars = columns
    tune_for_passes()


def _run_one(setup: Setup) -> Outcome:
    assert _bars is not None, "worker started without bars"
    return asyncio.run(run(_bars, setup))


def _judge_one(setup: Setup) -> Metrics:
    """The metrics alone: a sweep point sends back what its row shows, not its curve and fills."""
    assert _bars is not None, "worker started without bars"
    return compute(asyncio.run(run(_bars, setup)), _bars)


def _bare(columns: BarColumns) -> BarColumns:
    """The arrays alone: a worker rebuilds its own caches rather than receive them."""
    c = columns
    return BarColumns(c.names, c.code, c.ts, c.open, c.high, c.low, c.close, c.volume)


class Beside:
    """One run in another process, started before the caller knows what to run (before its
    own imports and its reading of the bars), so the process's start-up overlaps the caller's
    work. The caller reads the bars once and `submit` sends them with the run (~0.1 s for
    500,000 bars): a second read of the file beside contended for the two cores with the
    caller's own and made this pass the later one. `result` waits for the outcome, `draw` has
    the process draw the chart (matplotlib loaded meanwhile), `picture` waits for it; `close`
    ends it."""

    def __init__(self) -> None:
        context = _beside_context()
        self._conn, theirs = context.Pipe()
        # a forked process holds a copy of our end too: it closes it, so that it reads the end
        # of the pipe (and stops) when we go away
        ours = self._conn if context.get_start_method() == "fork" else None
        self._process = context.Process(
            target=_serve, args=(theirs, ours), name="backtest-beside", daemon=True
        )
        self._process.start()
        theirs.close()
        self._submitted: asyncio.Future[None] | None = None
        self._sending: asyncio.Future[None] | None = None

    def submit(self, bars: Sequence[Bar], setup: Setup) -> None:
        """Start the run of `setup` over `bars`. Sent from a thread: the process may still be
        starting, and the pipe holds a small part of the bars until it reads them."""
        self._submitted = self._send_later((setup, _bare(BarColumns.of(bars))))

    async def result(self) -> Outcome:
        assert self._submitted is not None, "nothing submitted"
        await self._submitted
        return self._value(await asyncio.to_thread(self._reply))  # type: ignore[no-any-return]

    def draw(self, first: Line, own: tuple[str, Metrics], slippage: Sequence[float]) -> None:
        """Start drawing the chart (chart.chart_png) of `first` and then the process's own run,
        named and judged by `own`, with the histogram of `slippage`. Sent from a thread: the
        process reads it once matplotlib is loaded, and the caller need not wait for that."""
        self._sending = self._send_later((first, own, list(slippage)))

    async def picture(self) -> bytes:
        """The PNG `draw` asked for."""
        assert self._sending is not None, "nothing to draw"
        await self._sending
        return self._value(await asyncio.to_thread(self._reply))  # type: ignore[no-any-return]

    def _send_later(self, message: object) -> asyncio.Future[None]:
        sending = asyncio.get_running_loop().run_in_executor(None, self._send, message)
        # seen here if never awaited (the backtest failed and closed us meanwhile)
        sending.add_done_callback(lambda f: f.cancelled() or f.exception())
        return sending

    def _send(self, message: object) -> None:
        with suppress(OSError):  # the process is gone: `result` says how it ended
            self._conn.send(message)

    @staticmethod
    def _value(reply: object) -> object:
        ok, value = reply  # type: ignore[misc]
        if not ok:
            raise RuntimeError(f"the run beside failed:\n{value}")
        return value

    def _reply(self) -> object:
        try:
            return self._conn.recv()
        except EOFError:
            self._process.join()
            raise RuntimeError(
                f"the run beside ended without a result (exit code {self._process.exitcode})"
            ) from None

    def close(self) -> None:
        """Stop the process: whatever it was doing is not needed any more (it writes nothing,
        so waiting for it to tear down its interpreter would only cost time). Ended before
        the pipe is closed: a send still under way then fails at once instead of waiting."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._conn.close()


def _beside_context() -> BaseContext:
    """Forked while this process runs no other thread (`tradebot backtest` makes Beside before
    the journal's writer or any executor thread): the process starts at once with every module
    loaded, where a spawned one spends ~0.3 s importing them again. With a thread running, a
    fork could copy a lock that thread holds, never to be released: spawned then."""
    return get_context("fork" if threading.active_count() == 1 else "spawn")


def _serve(conn: Connection, callers: Connection | None) -> None:
    """Beside's process: run what is submitted, then draw when asked. Matplotlib (~0.25 s)
    loads on a thread from the start: while the bars come, then beside the run, instead of
    after it while the caller waits for the picture."""
    if callers is not None:
        callers.close()
    drawing = threading.Thread(target=chart.load_drawing, name="load-drawing", daemon=True)
    drawing.start()
    tune_for_passes()
    try:
        setup, bars = conn.recv()
        try:
            outcome = asyncio.run(run(bars, setup))
        except Exception:
            conn.send((False, traceback.format_exc()))
            return
        conn.send((True, outcome))
        drawing.join()
        _draw(conn, outcome)
    except EOFError:
        return  # the caller stopped before it needed us


def _draw(conn: Connection, outcome: Outcome) -> None:
    first, (name, metrics), slippage = conn.recv()
    try:
        charted = [first, *chart.lines([(name, outcome, metrics)])]
        conn.send((True, chart.chart_png(charted, slippage)))
    except Exception:
        conn.send((False, traceback.format_exc()))


async def run_many(
    bars: Sequence[Bar], setups: Sequence[Setup], progress: Progress | None = None
) -> list[Outcome]:
    """Each setup's outcome, in order; `progress` hears (runs done, runs) as they finish."""
    return await _spread(_run_one, bars, setups, progress)  # type: ignore[arg-type]


async def judge_many(
    bars: Sequence[Bar], setups: Sequence[Setup], progress: Progress | None = None
) -> list[Metrics]:
    """Each setup's metrics, in order, as `compute(run(...))` gives them."""
    return await _spread(_judge_one, bars, setups, progress)  # type: ignore[arg-type]


async def _spread(
    task: Callable[[Setup], object],
    bars: Sequence[Bar],
    setups: Sequence[Setup],
    progress: Progress | None,
) -> list[object]:
    """`task` of each setup in spawned workers (not forked: the caller has threads, e.g. the
    journal's writer), started once and reused for every setup. The statistics of each
    distinct lookback are computed here once and sent with the bars."""
    whole = BarColumns.of(bars)
    statistics = share(whole, ((s.symbols, s.params.lookback, s.vol_window) for s in setups))
    workers = min(os.cpu_count() or 1, len(setups))
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(
        workers,
        mp_context=get_context("spawn"),
        initializer=_receive,
        initargs=(_bare(whole), statistics),
    ) as pool:
        futures = [loop.run_in_executor(pool, task, setup) for setup in setups]
        if progress is not None:
            done = [0]

            def tell(future: asyncio.Future[object]) -> None:
                if future.cancelled():  # stopped (Ctrl-C): not a point done
                    return
                done[0] += 1
                progress(done[0], len(setups))

            for future in futures:
                future.add_done_callback(tell)
        return list(await asyncio.gather(*futures))
