"""Is the result an accident of its parameters or of its period? A +-20% sweep of each key
parameter (or an explicit grid, grid.py), and an in-sample / out-of-sample split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ops.backtest.grid import Grid, GridResult
from ops.backtest.metrics import Metrics, compute
from ops.backtest.parallel import judge_many
from ops.backtest.run import Progress, Setup, run
from strategy.types import Bar

FACTORS = (0.8, 0.9, 1.0, 1.1, 1.2)
SWEPT = ("entry_z", "exit_z", "lookback", "risk_pct")  # StrategyParams fields


@dataclass(frozen=True, slots=True)
class SweepPoint:
    param: str
    factor: float
    value: float
    metrics: Metrics


def _scaled(setup: Setup, param: str, factor: float) -> tuple[Setup, float]:
    base = getattr(setup.params, param)
    value: float = round(base * factor) if isinstance(base, int) else base * factor
    return setup.with_params(**{param: value}), value


async def sweep(
    bars: Sequence[Bar], setup: Setup, progress: Progress | None = None
) -> list[SweepPoint]:
    """Each parameter in SWEPT at each factor, the others at their base values, the runs
    spread over every core. The base case (factor 1.0) is the same run for every parameter:
    it runs once."""
    grid = [
        (param, factor, *_scaled(setup, param, factor)) for param in SWEPT for factor in FACTORS
    ]
    varied = [scaled for _, factor, scaled, _ in grid if factor != 1.0]

    def ticks(done: int, runs: int) -> None:
        if progress is not None:
            progress(done * len(bars), runs * len(bars))

    base, *others = await judge_many(bars, [setup, *varied], ticks)  # every core
    found = iter(others)
    return [
        SweepPoint(param, factor, value, base if factor == 1.0 else next(found))
        for param, factor, _, value in grid
    ]


async def sweep_grid(
    bars: Sequence[Bar], setup: Setup, grid: Grid, progress: Progress | None = None
) -> list[GridResult]:
    """Every point of the grid, the other parameters at the setup's, spread over every core."""

    def ticks(done: int, runs: int) -> None:
        if progress is not None:
            progress(done * len(bars), runs * len(bars))

    setups = [replace(setup, params=point.params) for point in grid.points]
    found = await judge_many(bars, setups, ticks)
    return [GridResult(p, m) for p, m in zip(grid.points, found, strict=True)]


def robust(points: list[SweepPoint]) -> bool:
    """The article's test, made concrete: every point of the sweep still makes money."""
    return bool(points) and all(p.metrics.total_return > 0 for p in points)


@dataclass(frozen=True, slots=True)
class Split:
    in_sample: Metrics
    out_of_sample: Metrics
    split_ts: float


async def split(
    bars: Sequence[Bar], setup: Setup, fraction: float, progress: Progress | None = None
) -> Split:
    """The first `fraction` of the period in sample, the rest out of sample (cut on a bar
    boundary so both halves have every symbol)."""
    stamps = sorted({b.ts for b in bars})
    if len(stamps) < 4:
        raise ValueError("too few bars to split")
    cut = stamps[max(1, min(len(stamps) - 1, int(len(stamps) * fraction)))]
    first = [b for b in bars if b.ts < cut]
    second = [b for b in bars if b.ts >= cut]
    in_sample = compute(await run(first, setup, progress), first)
    out_sample = compute(await run(second, setup, progress), second)
    return Split(in_sample, out_sample, cut)
