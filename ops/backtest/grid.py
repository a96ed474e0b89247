"""`tradebot backtest --sweep --grid entry_z=1.5:2.5:5 exit_z=0.25:0.75:5`: an explicit grid of
strategy parameters, every combination of the values given, each point checked as config.yaml
would be (ranges, exit below entry, lookback above vol_window) before anything runs."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from ops.backtest.metrics import Metrics
from ops.config.param_spec import ParamSpec, check_value
from ops.config.settings import PARAMS, ConfigError, Settings, find_param
from strategy.params import StrategyParams

MAX_VALUES = 50  # per parameter
MAX_POINTS = 400  # in all: each point is a whole backtest
SPEC_FORM = "NAME=START:STOP:COUNT or NAME=V1,V2,...; e.g. entry_z=1.5:2.5:5"


class GridError(ValueError):
    """A grid spec that cannot run, with what is wrong and what is allowed."""


@dataclass(frozen=True, slots=True)
class Axis:
    name: str  # the short name, e.g. entry_z
    path: str  # the config key, e.g. strategy.entry_z_threshold
    values: tuple[float | int, ...]


@dataclass(frozen=True, slots=True)
class GridPoint:
    values: tuple[float | int, ...]  # one per axis, in the axes' order
    params: StrategyParams


@dataclass(frozen=True, slots=True)
class Grid:
    axes: tuple[Axis, ...]
    points: tuple[GridPoint, ...]  # the last axis varies fastest

    def label(self, point: GridPoint) -> str:
        return ", ".join(f"{a.name}={v:g}" for a, v in zip(self.axes, point.values, strict=True))


@dataclass(frozen=True, slots=True)
class GridResult:
    point: GridPoint
    metrics: Metrics


def _spec_of(name: str, text: str) -> ParamSpec:
    try:
        spec = find_param(name)
    except ConfigError:
        spec = None
    if spec is None or not spec.path.startswith("strategy.") or spec.short is None:
        varied = ", ".join(p.short for p in PARAMS if p.short and p.path.startswith("strategy."))
        raise GridError(f"--grid {text!r}: a grid varies {varied}; not {name.strip()!r}")
    return spec


def _numbers(spec: ParamSpec, text: str, body: str) -> list[float]:
    try:
        if ":" not in body:
            return [float(part) for part in body.split(",")]
        start, stop, count = body.split(":")
        n = int(count)
        first, last = float(start), float(stop)
    except ValueError:
        raise GridError(f"--grid {text!r}: use {SPEC_FORM}") from None
    if not 1 <= n <= MAX_VALUES:
        raise GridError(f"--grid {text!r}: COUNT must be 1..{MAX_VALUES}")
    if n == 1:
        return [first]
    if not first < last:
        raise GridError(f"--grid {text!r}: START must be below STOP")
    step = (last - first) / (n - 1)
    return [round(first + i * step, 10) for i in range(n)]  # 10 places: no float noise


def _axis(text: str) -> Axis:
    name, equals, body = text.partition("=")
    if not equals or not name.strip() or not body.strip():
        raise GridError(f"--grid {text!r}: use {SPEC_FORM}")
    spec = _spec_of(name, text)
    values: list[float | int] = []
    for number in _numbers(spec, text, body):
        if not math.isfinite(number):
            raise GridError(f"--grid {text!r}: {number} is not a finite number")
        if spec.kind is int and not number.is_integer():
            raise GridError(f"--grid {text!r}: {spec.short} takes whole numbers, not {number:g}")
        value = int(number) if spec.kind is int else number
        try:
            check_value(spec, value, spec.short or spec.path)
        except ConfigError as exc:
            raise GridError(f"--grid {text!r}: {exc}") from None
        values.append(value)
    if len(set(values)) != len(values):
        raise GridError(f"--grid {text!r}: a value appears twice")
    return Axis(spec.short or spec.path, spec.path, tuple(values))


def parse_grid(specs: Sequence[str], settings: Settings) -> Grid:
    """The grid, every point checked against `settings` (the other parameters); GridError
    names the first spec or point that cannot run."""
    axes = [_axis(text) for text in specs]
    if not axes:
        raise GridError(f"--grid needs at least one NAME=..., {SPEC_FORM}")
    names = [a.name for a in axes]
    if len(set(names)) != len(names):
        raise GridError("--grid names a parameter twice")
    total = math.prod(len(a.values) for a in axes)
    if total > MAX_POINTS:
        raise GridError(f"--grid has {total:,} points; at most {MAX_POINTS} (each is a backtest)")
    points = []
    for values in itertools.product(*(a.values for a in axes)):
        point = settings
        try:
            for axis, value in zip(axes, values, strict=True):
                point = point.with_override(axis.path, value)
        except ConfigError as exc:
            label = ", ".join(f"{a.name}={v:g}" for a, v in zip(axes, values, strict=True))
            raise GridError(f"--grid point {label}: {exc}") from None
        points.append(GridPoint(tuple(values), point.strategy_params()))
    return Grid(tuple(axes), tuple(points))
