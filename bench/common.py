"""Shared by the benchmarks: the bar stream, medians, the machine, the figure row."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from strategy.params import RiskLimits
from strategy.types import Bar
from strategy.venues.bars import synthetic_bars

START = 1_767_364_200.0  # 2026-01-02 09:30 New York
SEED = 11
# Limits wide enough that every signal becomes an order: the whole decision path runs.
OPEN_LIMITS = RiskLimits(
    max_order_notional=1e9,
    max_position_qty=10**6,
    max_gross_exposure=1e12,
    max_orders_per_day=10**9,
    max_orders_per_minute=10**9,
    max_daily_loss_pct=1.0,
)


def symbols(count: int) -> tuple[str, ...]:
    """`count` distinct tickers (AAAA, AAAB, ...)."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = []
    for i in range(count):
        name = ""
        for _ in range(4):
            i, r = divmod(i, 26)
            name = letters[r] + name
        out.append(name)
    return tuple(out)


def bar_stream(names: tuple[str, ...], bars_per_symbol: int) -> list[Bar]:
    return list(synthetic_bars(names, SEED, START, count=bars_per_symbol))


def interleaved(runs: dict[str, Callable[[], float]], count: int) -> dict[str, float]:
    """The median of each measure over `count` rounds that run every measure once, in turn,
    after one warm-up round (caches, allocator, branch predictors)."""
    for measure in runs.values():
        measure()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(count):
        for name, measure in runs.items():
            samples[name].append(measure())
    return {name: statistics.median(values) for name, values in samples.items()}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@dataclass(frozen=True, slots=True)
class Figure:
    number: int
    name: str
    ours: str
    baseline: str
    ratio: str
    target: str
    met: bool | None  # None: no target set

    def row(self) -> str:
        verdict = "-" if self.met is None else "yes" if self.met else "NO"
        return (
            f"| {self.number} | {self.name} | {self.ours} | {self.baseline} | {self.ratio} "
            f"| {self.target} | {verdict} |"
        )


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def run_child(module: str) -> dict[str, float]:
    """Run `python -m module FOLDER` in a fresh process (its RSS is its own) with a scratch
    folder; its last stdout line is a JSON object of figures."""
    with tempfile.TemporaryDirectory() as folder:
        out = subprocess.run(
            [sys.executable, "-m", module, folder], capture_output=True, text=True, check=True
        ).stdout
    return json.loads(out.strip().splitlines()[-1])
