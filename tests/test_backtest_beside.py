"""The frictionless pass's process (Beside): started before the run is known, it is sent the
caller's bars with the run and gives the outcome the same run makes in-process."""

from __future__ import annotations

import csv
import multiprocessing
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from ops.backtest import chart
from ops.backtest.metrics import compute
from ops.backtest.parallel import Beside, _beside_context
from ops.backtest.run import NO_COSTS, Outcome, run
from strategy.venues.bar_columns import BarColumns
from strategy.venues.bars import COLUMNS, load_bars
from tests.support import REPO
from tests.test_backtest_fast import _sessions, _setup


def _write(path: Path, seed: int) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for b in _sessions(seed, days=1):
            writer.writerow([b.ts, b.symbol, b.open, b.high, b.low, b.close, b.volume])
    return path


async def _beside(bars: BarColumns, seed: int) -> Outcome:
    beside = Beside()
    try:
        beside.submit(bars, _setup(seed))
        return await beside.result()
    finally:
        beside.close()


async def test_the_process_runs_the_bars_it_is_sent_as_in_process(tmp_path: Path) -> None:
    """Sent the caller's bars with the run, the process beside makes the outcome the run makes
    in-process."""
    bars = load_bars(_write(tmp_path / "bars.csv", 7)).bars
    outcome = await _beside(bars, 7)
    here = await run(bars, _setup(7))
    assert here.fills  # something to compare
    assert outcome.fills == here.fills
    assert outcome.curve == here.curve


@contextmanager
def _another_thread() -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="another")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


_FORKED_PROBE = """
import asyncio, threading
from ops.backtest.parallel import Beside, _beside_context
from ops.backtest.run import run
from strategy.venues.bars import load_bars
from tests.test_backtest_fast import _setup

async def main():
    bars = load_bars(BARS).bars
    alone, method = threading.active_count() == 1, _beside_context().get_start_method()
    beside = Beside()
    try:
        beside.submit(bars, _setup(7))
        outcome = await beside.result()
    finally:
        beside.close()
    print(alone, method, outcome.curve == (await run(bars, _setup(7))).curve)

asyncio.run(main())
"""


def test_forked_when_no_other_thread_runs(tmp_path: Path) -> None:
    """In a process running no other thread (as `tradebot backtest` makes Beside), the process
    beside is forked, its modules loaded already, and runs as the run in-process does."""
    probe = f"BARS = {str(_write(tmp_path / 'bars.csv', 7))!r}\n" + _FORKED_PROBE
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.stdout.split() == ["True", "fork", "True"], done.stderr


_GONE_PROBE = """
from ops.backtest.parallel import Beside, _beside_context
assert _beside_context().get_start_method() == "fork"
beside = Beside()
beside._conn.close()  # as when this process dies before it submits
beside._process.join(timeout=120)
print(beside._process.exitcode)
"""


def test_a_forked_process_ends_when_the_caller_goes_away() -> None:
    """Forked, the process beside holds a copy of the caller's end of the pipe: it closes it,
    so that the caller's going away (a crash before it submits) ends it instead of leaving it
    waiting forever."""
    done = subprocess.run(
        [sys.executable, "-c", _GONE_PROBE], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.stdout.split() == ["0"], done.stderr


async def test_spawned_while_another_thread_runs(tmp_path: Path) -> None:
    """With another thread running, the process beside is spawned (a fork could copy a lock
    that thread holds, never released) and runs as the run in-process does."""
    bars = load_bars(_write(tmp_path / "bars.csv", 7)).bars
    here = await run(bars, _setup(7))
    with _another_thread():
        assert _beside_context().get_start_method() == "spawn"
        assert (await _beside(bars, 7)).curve == here.curve


async def test_the_caller_s_bars_are_run_not_a_file(tmp_path: Path) -> None:
    """The bars run beside are the caller's, whatever the file holds now: changed after the
    caller read it, the file is not read again."""
    path = _write(tmp_path / "bars.csv", 9)
    bars = load_bars(path).bars
    _write(path, 8)
    outcome = await _beside(bars, 9)
    assert outcome.curve == (await run(bars, _setup(9))).curve


def test_closing_before_submitting_ends_the_process() -> None:
    """A backtest that fails before its passes (a bad file...) leaves no process behind."""
    beside = Beside()
    beside.close()
    assert not [p for p in multiprocessing.active_children() if p.name == "backtest-beside"]


async def test_the_process_draws_the_chart_this_process_would(tmp_path: Path) -> None:
    """After its run, the process draws the same PNG of the caller's run and its own as
    chart.png draws in-process."""
    bars = load_bars(_write(tmp_path / "bars.csv", 7)).bars
    first = await run(bars, _setup(7))
    beside = Beside()
    try:
        beside.submit(bars, replace(_setup(7), costs=NO_COSTS))
        own = await beside.result()
        runs = [("with costs", first, compute(first, bars)), ("no costs", own, compute(own, bars))]
        slippage = [f.slippage_bps for f in first.fills]
        beside.draw(chart.lines(runs[:1])[0], ("no costs", runs[1][2]), slippage)
        assert await beside.picture() == chart.png(runs, slippage)
    finally:
        beside.close()
