"""Many backtests on the same bars across every core (a sweep): one worker process per core,
each given the bars once; the statistics are computed once per worker and lookback."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from ops.backtest.run import Outcome, Progress, Setup, run
from strategy.types import Bar
from strategy.venues.bar_columns import BarColumns

_bars: BarColumns | None = None  # a worker's copy, set once by _receive


def _receive(columns: BarColumns) -> None:
    global _bars
    _bars = columns


def _run_one(setup: Setup) -> Outcome:
    assert _bars is not None, "worker started without bars"
    return asyncio.run(run(_bars, setup))


def _bare(columns: BarColumns) -> BarColumns:
    """The arrays alone: a worker rebuilds its own caches rather than receive them."""
    c = columns
    return BarColumns(c.names, c.code, c.ts, c.open, c.high, c.low, c.close, c.volume)


async def run_beside(bars: Sequence[Bar], setup: Setup) -> Outcome:
    """One run in a spawned process while the caller's own loop does other work (e.g. the
    costed pass beside the frictionless one)."""
    loop = asyncio.get_running_loop()
    columns = _bare(BarColumns.of(bars))
    with ProcessPoolExecutor(
        1, mp_context=get_context("spawn"), initializer=_receive, initargs=(columns,)
    ) as pool:
        return await loop.run_in_executor(pool, _run_one, setup)


async def run_many(
    bars: Sequence[Bar], setups: Sequence[Setup], progress: Progress | None = None
) -> list[Outcome]:
    """Each setup's outcome, in order; `progress` hears (runs done, runs) as they finish.
    Spawned workers (not forked: the caller has threads, e.g. the journal's writer) are
    started once and reused for every setup."""
    columns = _bare(BarColumns.of(bars))
    workers = min(os.cpu_count() or 1, len(setups))
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=_receive, initargs=(columns,)
    ) as pool:
        futures = [loop.run_in_executor(pool, _run_one, setup) for setup in setups]
        if progress is not None:
            done = [0]

            def tell(_: object) -> None:
                done[0] += 1
                progress(done[0], len(setups))

            for future in futures:
                future.add_done_callback(tell)
        return list(await asyncio.gather(*futures))
