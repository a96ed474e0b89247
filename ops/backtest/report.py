"""Backtest results for people: a terminal table and a JSON file, in a folder of their own (the PNG
is ops.backtest.chart). Costs read positive when they cost."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from ops.backtest.grid import Grid, GridResult
from ops.backtest.metrics import Metrics, annualized, not_shown, plain, sharpe, signed_pct, win_rate
from ops.backtest.robustness import FACTORS, Split, SweepPoint
from ops.shared.formatting import money
from strategy.market_day import NEW_YORK, market_time

ROWS = (
    ("period", lambda m: f"{market_time(m.start_ts)} .. {market_time(m.end_ts)}"),
    ("New York days", lambda m: f"{m.days:,}"),
    ("bars", lambda m: f"{m.bars:,}"),
    ("final equity", lambda m: money(m.final_equity)),
    ("total return", lambda m: signed_pct(m.total_return)),
    ("annualized return", annualized),
    ("Sharpe (annualized)", sharpe),
    ("max drawdown", lambda m: f"{m.max_drawdown:.2%}"),
    (
        "  from .. to",
        lambda m: f"{market_time(m.drawdown_peak_ts)} .. {market_time(m.drawdown_trough_ts)}",
    ),
    ("orders / fills", lambda m: f"{m.orders:,} / {m.fills:,}"),
    ("round trips", lambda m: f"{m.trades:,}"),
    ("win rate", win_rate),
    ("turnover (x equity)", lambda m: plain(m.turnover, ".1f")),
    ("commission", lambda m: money(m.commission)),
    ("slippage, open -> fill (bps)", lambda m: f"{m.slippage_bps:+.2f}"),
    ("slippage cost, measured", lambda m: money(m.slippage_cost)),
    ("slippage cost, article", lambda m: money(m.slippage_cost_article)),
    ("latency, close -> next open (bps)", lambda m: f"{m.latency_bps:+.2f}"),
    ("latency cost (one bar)", lambda m: money(m.latency_cost)),
)
COSTS_NOTE = "costs: positive = they cost; negative = the price moved in the trade's favour"


def table(columns: Sequence[tuple[str, Metrics]]) -> str:
    """Metrics side by side, e.g. [("with costs", m1), ("no costs", m2)]."""
    width = max(len(name) for name, _ in ROWS) + 2
    cells = [[render(m) for _, render in ROWS] for _, m in columns]
    col = [
        max(len(title), *(len(c) for c in cs)) + 2
        for (title, _), cs in zip(columns, cells, strict=True)
    ]
    lines = ["".ljust(width) + "".join(t.rjust(w) for (t, _), w in zip(columns, col, strict=True))]
    for i, (name, _) in enumerate(ROWS):
        lines.append(
            name.ljust(width) + "".join(c[i].rjust(w) for c, w in zip(cells, col, strict=True))
        )
    lines.append(COSTS_NOTE)
    return "\n".join(lines)


def sweep_table(points: Sequence[SweepPoint]) -> str:
    """Rows: parameters; columns: factors; cells: total return / Sharpe."""
    lines = ["param      " + "".join(f"{f:>18.0%}" for f in FACTORS)]
    for param in dict.fromkeys(p.param for p in points):
        row = [p for p in points if p.param == param]
        cells = "".join(
            f"{signed_pct(p.metrics.total_return) + ' / ' + plain(p.metrics.sharpe, '.1f'):>18}"
            for p in row
        )
        lines.append(f"{param:<11}{cells}")
    lines.append("cells: total return / Sharpe; each parameter varied alone")
    withheld = {not_shown(p.metrics, "sharpe") for p in points} - {None}
    lines.extend(f"Sharpe {why}" for why in sorted(withheld))  # type: ignore[type-var]
    return "\n".join(lines)


def grid_table(grid: Grid, results: Sequence[GridResult]) -> str:
    """Two parameters: a matrix (rows: the first, columns: the second); otherwise a row per
    point. Cells: total return / Sharpe / round trips."""

    def cell(m: Metrics) -> str:
        return f"{signed_pct(m.total_return)} / {plain(m.sharpe, '.1f')} / {m.trades:,}"

    withheld = {not_shown(r.metrics, "sharpe") for r in results} - {None}
    notes = [
        "cells: total return / Sharpe / round trips; other parameters as configured",
        *(f"Sharpe {why}" for why in sorted(withheld)),  # type: ignore[type-var]
    ]
    if len(grid.axes) != 2:
        rows = [(grid.label(r.point), cell(r.metrics)) for r in results]
        width = max(len(label) for label, _ in rows) + 2
        return "\n".join([*(label.ljust(width) + c for label, c in rows), *notes])
    first, second = grid.axes
    cells = [cell(r.metrics) for r in results]
    width = max(len(c) for c in cells) + 2
    head = f"{first.name} \\ {second.name}"
    lines = [head.ljust(len(head) + 2) + "".join(f"{v:>{width}g}" for v in second.values)]
    for i, value in enumerate(first.values):
        row = cells[i * len(second.values) : (i + 1) * len(second.values)]
        lines.append(f"{value:<{len(head) + 2}g}" + "".join(c.rjust(width) for c in row))
    return "\n".join([*lines, *notes])


def split_table(result: Split) -> str:
    return f"split at {market_time(result.split_ts)}\n" + table(
        [("in sample", result.in_sample), ("out of sample", result.out_of_sample)]
    )


def new_folder(parent: Path, now: datetime) -> Path:
    """A folder of its own for this report: the second it ran (New York time, labelled like
    every time we print), then -2, -3... when taken."""
    stamp = now.astimezone(NEW_YORK).strftime("%Y%m%d-%H%M%S-ET")
    parent.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        folder = parent / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise AssertionError("unreachable")


def write_json(path: Path, report: dict[str, object]) -> None:
    path.write_text(json.dumps(report, indent=2, default=str, allow_nan=True))
