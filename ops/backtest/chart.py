"""The backtest's picture: equity and drawdown of every run on one session axis (nights and
weekends take no room) and the slippage histogram, as a PNG. Drawn in the caller's process or in
the run beside it (parallel.Beside), which is why it does not import the report."""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from ops.backtest.metrics import Metrics, annualized
from ops.backtest.run import Outcome
from strategy.market_day import NEW_YORK, market_time, next_day_start

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Line = tuple[str, np.ndarray, np.ndarray, Metrics]  # a run charted: name, timestamps, equity
CHART_BUCKETS = 1_000  # per line: about one per pixel column of the 9-inch, 100-dpi figure
MAX_TICK_LABELS = 10  # on the 9-inch time axis: each label ("Jan 02", "11:00") has room
LABEL_HOURS = ((10, 11, 12, 13, 14, 15), (11, 13), (12,))  # within a day, for a few days


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
    """Import what drawing needs (matplotlib, ~0.25 s) ahead of `png`: the process beside a
    run (parallel.Beside) does it on a thread while it waits for the bars and runs."""
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
