"""Figure 11: a backtest as a user runs it, whole process: `tradebot backtest --data FILE
--no-costs` over 5 symbols x 100,000 minute bars (imports, loading, the costed and the
frictionless pass, the report and the PNG). One warm-up run, then timed runs.

Beside it, interleaved, the same command with an entry threshold no bar reaches: no order,
fill or decision, everything else the same. Its time is what the command costs before any
event logic, so its rate is the most any speed-up of the replay could reach."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from bench.backtest_bars import bars_file, config_file
from bench.common import Figure

RUNS = 3
TARGET = 300_000.0
BASELINE = 46_000.0  # the same command before the fast replay (issue 14), this machine
# |z| of the newest return against a 20-close window stays below (20-1)/sqrt(20) = 4.25
NO_ENTRY = {"entry_z_threshold": 10.0}


def backtest_seconds(
    data: Path, folder: Path, strategy: Mapping[str, object] | None = None
) -> float:
    """Wall time of one `tradebot backtest` process; its report lands in folder/out."""
    command = [
        str(Path(sys.executable).with_name("tradebot")),
        "backtest",
        "--config",
        str(config_file(folder, strategy)),
        "--data",
        str(data),
        "--no-costs",
        "--out",
        str(folder / "out"),
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def orders(folder: Path) -> int:
    """Orders of the costed pass in the newest report under folder/out."""
    newest = max(Path(folder, "out").glob("*/report.json"))
    return int(json.loads(newest.read_text())["with_costs"]["orders"])


def medians(data: Path, runs: int = RUNS) -> tuple[float, float]:
    """(seconds of the command, seconds of the command with no entry), medians of
    interleaved runs after a warm-up of each."""
    with tempfile.TemporaryDirectory() as trading, tempfile.TemporaryDirectory() as idle:
        folders = (Path(trading), Path(idle))
        seconds: tuple[list[float], list[float]] = ([], [])
        for run in range(runs + 1):  # the first: warm-up (page cache, .pyc files)
            for folder, strategy, times in zip(folders, (None, NO_ENTRY), seconds, strict=True):
                took = backtest_seconds(data, folder, strategy)
                if run > 0:
                    times.append(took)
        if orders(folders[1]) != 0 or orders(folders[0]) == 0:
            raise RuntimeError("the no-entry run traded, or the real one did not")
    return statistics.median(seconds[0]), statistics.median(seconds[1])


def measure() -> Figure:
    data = bars_file()
    rows = sum(1 for _ in data.open()) - 1
    print(f"  [11] tradebot backtest --data {data.name} --no-costs, median of {RUNS}")
    real, idle = medians(data)
    rate, ceiling = rows / real, rows / idle
    print(
        f"  [11] the same command with no entry (entry_z_threshold {NO_ENTRY['entry_z_threshold']}"
        f"): {idle:.2f} s, {ceiling:,.0f} bars/s; the command: {real:.2f} s, of which the "
        f"event logic {real - idle:.2f} s ({(real - idle) / real:.0%})"
    )
    return Figure(
        11,
        "backtest, whole process",
        f"{rate:,.0f} bars/s (no entry: {ceiling:,.0f})",
        f"{BASELINE:,.0f} bars/s (before, issue 14)",
        f"{rate / BASELINE:.1f}x",
        f">= {TARGET:,.0f} bars/s",
        rate >= TARGET,
    )
