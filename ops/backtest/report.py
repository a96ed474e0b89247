"""Backtest results for people: a terminal table, a JSON file and a PNG (equity and drawdown of
every run, slippage histogram), in a folder of their own. Costs read positive when they cost."""

from __future__ import annotations

import io
import itertools
import json
import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ops.backtest.grid import Grid, GridResult
from ops.backtest.metrics import Metrics, not_shown
from ops.backtest.robustness import FACTORS, Split, SweepPoint
from ops.backtest.run import Outcome
from ops.config.formatting import money
from strategy.market_day import NEW_YORK, market_time, next_day_start

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Line = tuple[str, np.ndarray, np.ndarray, Metrics]  # a run charted: name, timestamps, equity
CHART_BUCKETS = 1_000  # per line: about one per pixel column of the 9-inch, 100-dpi figure
MAX_TICK_LABELS = 10  # on the 9-inch time axis: each label ("Jan 02", "11:00") has room
LABEL_HOURS = ((10, 11, 12, 13, 14, 15), (11, 13), (12,))  # within a day, for a few days


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:+.2%}"


def _num(x: float, fmt: str = ".2f") -> str:
    return "n/a" if math.isnan(x) else format(x, fmt)


def annualized(m: Metrics) -> str:
    return not_shown(m, "annual_return") or _pct(m.annual_return)


def sharpe(m: Metrics) -> str:
    return not_shown(m, "sharpe") or _num(m.sharpe)


def win_rate(m: Metrics) -> str:
    return not_shown(m, "win_rate") or f"{m.win_rate:.1%}"


ROWS = (
    ("period", lambda m: f"{market_time(m.start_ts)} .. {market_time(m.end_ts)}"),
    ("New York days", lambda m: f"{m.days:,}"),
    ("bars", lambda m: f"{m.bars:,}"),
    ("final equity", lambda m: money(m.final_equity)),
    ("total return", lambda m: _pct(m.total_return)),
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
    ("turnover (x equity)", lambda m: _num(m.turnover, ".1f")),
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
            f"{_pct(p.metrics.total_return) + ' / ' + _num(p.metrics.sharpe, '.1f'):>18}"
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
        return f"{_pct(m.total_return)} / {_num(m.sharpe, '.1f')} / {m.trades:,}"

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


def lines(runs: Sequence[tuple[str, Outcome, Metrics]]) -> list[Line]:
    """What the chart needs of each run (cheap to send to the process that draws)."""
    return [(name, o.curve.ts, o.curve.equity, metrics) for name, o, metrics in runs]


def _session_axis(times: Sequence[np.ndarray]) -> tuple[np.ndarray, list[int], list[str], str]:
    """Bar positions instead of clock time, so nights and weekends take no room: every
    timestamp in order (a timestamp's position is its index), the ticks and their labels, and
    the axis title. Each New York day's first bar is labelled with its date ("Jan 02"); over a
    few days, hours within each day too ("11:00"); over many, every few days. Ticks closer
    than a label's room (e.g. a day of a few bars) are left out, so no two labels overlap."""
    stamps = np.unique(np.concatenate(times))
    starts, i = [], 0
    while i < len(stamps):  # one step per day: the first bar at or after the next day's start
        starts.append(i)
        i = max(i + 1, int(np.searchsorted(stamps, next_day_start(float(stamps[i])))))
    hours = next((h for h in LABEL_HOURS if len(starts) * (1 + len(h)) <= MAX_TICK_LABELS), ())
    step = 1 if hours else -(-len(starts) // MAX_TICK_LABELS)
    ticks: list[int] = []
    labels: list[str] = []
    room = len(stamps) / (MAX_TICK_LABELS + 4)  # positions a label needs
    for day, first in enumerate(starts):
        marks = [(first, "%b %d")] if day % step == 0 else []
        local = datetime.fromtimestamp(float(stamps[first]), NEW_YORK)
        for hour in hours:
            at = local.replace(hour=hour, minute=0, second=0, microsecond=0).timestamp()
            found = int(np.searchsorted(stamps, at))
            if found < len(stamps) and stamps[found] < next_day_start(float(stamps[first])):
                marks.append((found, "%H:%M"))
        for position, fmt in marks:
            if not ticks or position - ticks[-1] >= room:
                ticks.append(position)
                when = datetime.fromtimestamp(float(stamps[position]), NEW_YORK)
                labels.append(when.strftime(fmt))
    span = f"{market_time(float(stamps[0]))} .. {market_time(float(stamps[-1]))}"
    return stamps, ticks, labels, f"New York time, sessions only: {span}"


def thin(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """At most 2 x buckets + 2 points, in order: the first, the last, and each bucket's lowest
    and highest, so the drawn line keeps every peak and trough a pixel could show (a year of
    minute bars is 100,000 points for a 900-pixel-wide chart)."""
    n = len(y)
    if n <= 2 * buckets + 2:
        return x, y
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep = [0, n - 1]
    for start, end in itertools.pairwise(edges.tolist()):
        part = y[start:end]
        keep += [start + int(part.argmin()), start + int(part.argmax())]
    rows = np.unique(np.asarray(keep))
    return x[rows], y[rows]


def load_drawing() -> None:
    """Import what drawing needs (matplotlib, ~0.4 s) ahead of `png`: best while this process
    would only wait, e.g. for the run beside it."""
    import matplotlib.figure  # noqa: F401


def png(runs: Sequence[tuple[str, Outcome, Metrics]], slippage: Sequence[float]) -> bytes:
    return chart_png(lines(runs), slippage)


def chart_png(charted: Sequence[Line], slippage: Sequence[float]) -> bytes:
    buffer = io.BytesIO()
    # zlib level 1: a third of the encoding time for a file ~10% larger
    chart(charted, slippage).savefig(
        buffer, format="png", dpi=100, pil_kwargs={"compress_level": 1}
    )
    return buffer.getvalue()


def chart(charted: Sequence[Line], slippage: Sequence[float]) -> Figure:
    """Equity and drawdown of each run (e.g. with costs, no costs) on one session axis, and the
    histogram of the first run's slippage per fill (bps)."""
    from matplotlib.figure import Figure  # imported when drawn: a backtest draws last

    stamps, ticks, labels, title = _session_axis([ts for _, ts, _, _ in charted])
    fig = Figure(figsize=(9, 8))
    # fixed margins, as tight_layout sets them for this figure (it cost a third of the drawing);
    # only the equity tick labels vary in width, and the left margin holds 9 digits
    fig.subplots_adjust(left=0.11, right=0.983, top=0.955, bottom=0.073, hspace=0.3)
    top, middle, bottom = fig.subplots(3, 1, gridspec_kw={"height_ratios": [3, 1, 2]})
    for name, ts, equity, metrics in charted:
        x = np.searchsorted(stamps, ts).astype(np.float64)
        peak = np.maximum.accumulate(equity) if len(equity) else equity
        drawdown = np.divide((equity - peak) * 100, peak, out=np.zeros_like(equity), where=peak > 0)
        label = f"{name}: {metrics.total_return:+.2%}, max drawdown {metrics.max_drawdown:.2%}"
        top.plot(*thin(x, equity, CHART_BUCKETS), label=label)
        middle.plot(*thin(x, drawdown, CHART_BUCKETS), label=name)
    first_name, _, _, first_metrics = charted[0]
    top.set_ylabel("equity ($)")
    top.set_title(
        f"Backtest ({first_name}): {first_metrics.total_return:+.2%} total, "
        f"annualized {annualized(first_metrics)}"
    )
    top.legend(loc="best")
    middle.set_ylabel("drawdown (%)")
    for axis in (top, middle):
        axis.set_xticks(ticks, labels)
    middle.set_xlabel(title)
    if slippage:
        bottom.hist(np.asarray(slippage, np.float64), bins=40, edgecolor="black", alpha=0.7)
        bottom.axvline(first_metrics.slippage_bps, color="red", linestyle="--", label="mean")
        bottom.legend()
    else:
        bottom.text(
            0.5,
            0.5,
            f"no fills in the {first_name} run: no slippage to show",
            ha="center",
            va="center",
            transform=bottom.transAxes,
        )
    bottom.set_xlabel(f"slippage per fill, {first_name} (bps, open -> fill, positive = worse)")
    bottom.set_ylabel("fills")
    return fig
