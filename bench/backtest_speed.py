"""Figure 11: a backtest as a user runs it, whole process: `tradebot backtest --data FILE
--no-costs` over 5 symbols x 100,000 minute bars (imports, loading, the costed and the
frictionless pass, the report and the PNG). One warm-up run, then timed runs."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.backtest_bars import bars_file, config_file
from bench.common import Figure

RUNS = 3
TARGET = 300_000.0
BASELINE = 46_000.0  # the same command before the fast replay (issue 14), this machine


def backtest_seconds(data: Path, folder: Path) -> float:
    """Wall time of one `tradebot backtest` process."""
    command = [
        str(Path(sys.executable).with_name("tradebot")),
        "backtest",
        "--config",
        str(config_file(folder)),
        "--data",
        str(data),
        "--no-costs",
        "--out",
        str(folder / "out"),
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def bars_per_second(data: Path, runs: int = RUNS) -> float:
    rows = sum(1 for _ in data.open()) - 1
    with tempfile.TemporaryDirectory() as folder:
        backtest_seconds(data, Path(folder))  # warm-up: page cache, .pyc files
        seconds = [backtest_seconds(data, Path(folder)) for _ in range(runs)]
    return rows / statistics.median(seconds)


def measure() -> Figure:
    data = bars_file()
    print(f"  [11] tradebot backtest --data {data.name} --no-costs, median of {RUNS}")
    rate = bars_per_second(data)
    return Figure(
        11,
        "backtest, whole process",
        f"{rate:,.0f} bars/s",
        f"{BASELINE:,.0f} bars/s (before, issue 14)",
        f"{rate / BASELINE:.1f}x",
        f">= {TARGET:,.0f} bars/s",
        rate >= TARGET,
    )
