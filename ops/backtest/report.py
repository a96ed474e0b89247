"""Backtest results for people: a terminal table, a JSON file and a PNG (equity, drawdown,
slippage histogram)."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure

from ops.backtest.metrics import Metrics
from ops.backtest.robustness import FACTORS, Split, SweepPoint
from ops.backtest.run import Outcome


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:+.2%}"


def _num(x: float, fmt: str = ".2f") -> str:
    return "n/a" if math.isnan(x) else format(x, fmt)


ROWS = (
    ("period", lambda m: f"{_day(m.start_ts)} .. {_day(m.end_ts)}"),
    ("bars", lambda m: f"{m.bars:,}"),
    ("final equity", lambda m: f"${m.final_equity:,.2f}"),
    ("total return", lambda m: _pct(m.total_return)),
    ("annualized return", lambda m: _pct(m.annual_return)),
    ("Sharpe (annualized)", lambda m: _num(m.sharpe)),
    ("max drawdown", lambda m: f"{m.max_drawdown:.2%}"),
    ("  from .. to", lambda m: f"{_day(m.drawdown_peak_ts)} .. {_day(m.drawdown_trough_ts)}"),
    ("orders / fills", lambda m: f"{m.orders:,} / {m.fills:,}"),
    ("round trips", lambda m: f"{m.trades:,}"),
    ("win rate", lambda m: "n/a" if math.isnan(m.win_rate) else f"{m.win_rate:.1%}"),
    ("turnover (x equity)", lambda m: _num(m.turnover, ".1f")),
    ("commission", lambda m: f"${m.commission:,.2f}"),
    ("mean slippage (bps)", lambda m: f"{m.slippage_bps:+.2f}"),
    ("slippage cost, measured", lambda m: f"${m.slippage_cost:,.2f}"),
    ("slippage cost, article", lambda m: f"${m.slippage_cost_article:,.2f}"),
)


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
    return "\n".join(lines)


def split_table(result: Split) -> str:
    return f"split at {_day(result.split_ts)}\n" + table(
        [("in sample", result.in_sample), ("out of sample", result.out_of_sample)]
    )


def write_json(path: Path, report: dict[str, object]) -> None:
    path.write_text(json.dumps(report, indent=2, default=str, allow_nan=True))


def png(outcome: Outcome, metrics: Metrics) -> bytes:
    times = [datetime.fromtimestamp(ts, UTC) for ts, _ in outcome.curve]
    equity = [e for _, e in outcome.curve]
    peak, drawdown = equity[0], []
    for value in equity:
        peak = max(peak, value)
        drawdown.append((value - peak) / peak * 100)
    fig = Figure(figsize=(9, 8))
    top, middle, bottom = fig.subplots(3, 1, gridspec_kw={"height_ratios": [3, 1, 2]})
    top.plot(times, equity, color="tab:blue")
    top.set_ylabel("equity ($)")
    top.set_title(
        f"Backtest: {metrics.total_return:+.2%} total, {metrics.annual_return:+.2%} annualized, "
        f"max drawdown {metrics.max_drawdown:.2%}"
    )
    middle.fill_between(times, drawdown, 0, color="tab:red", alpha=0.4)
    middle.set_ylabel("drawdown (%)")
    slippage = [f.slippage_bps for f in outcome.fills]
    if slippage:
        bottom.hist(slippage, bins=40, edgecolor="black", alpha=0.7)
        bottom.axvline(metrics.slippage_bps, color="red", linestyle="--", label="mean")
        bottom.legend()
    bottom.set_xlabel("slippage per fill (bps, positive = worse)")
    bottom.set_ylabel("fills")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
