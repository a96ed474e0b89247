"""PNG pictures for Slack: equity with drawdown, and the slippage histogram.

matplotlib is CPU-bound and not thread-safe, so figures are built with the object API in a
worker thread, one at a time.
"""

from __future__ import annotations

import asyncio
import io
import threading
from datetime import datetime

import matplotlib

matplotlib.use("Agg")

from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from ops.shared.results import SlippageResult
from strategy.market_day import NEW_YORK

_lock = threading.Lock()


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    with _lock:
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _equity_png(curve: list[tuple[float, float]]) -> bytes:
    return _png(equity_figure(curve))


def equity_figure(curve: list[tuple[float, float]]) -> Figure:
    """Equity over drawdown on one time axis in New York time, labelled ET; matplotlib's
    concise date labels keep it readable from an hour to a year."""
    times = [datetime.fromtimestamp(ts, NEW_YORK) for ts, _ in curve]
    equity = [e for _, e in curve]
    peak, drawdown = equity[0], []
    for value in equity:
        peak = max(peak, value)
        drawdown.append((value - peak) / peak * 100)
    fig = Figure(figsize=(8, 5))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot(times, equity, color="tab:blue")
    top.set_ylabel("equity ($)")
    top.set_title("Equity and drawdown")
    bottom.fill_between(times, drawdown, 0, color="tab:red", alpha=0.4)
    bottom.set_ylabel("drawdown (%)")
    locator = AutoDateLocator(tz=NEW_YORK)
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=NEW_YORK))
    bottom.set_xlabel("New York time (ET)")
    return fig


def _slippage_png(result: SlippageResult) -> bytes:
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    ax.hist(result.samples_bps, bins=30, edgecolor="black", alpha=0.7)
    ax.axvline(result.mean_bps, color="red", linestyle="--", label=f"mean {result.mean_bps:.2f}")
    ax.axvline(result.p95_bps, color="black", linestyle=":", label=f"p95 {result.p95_bps:.2f}")
    ax.set_xlabel("slippage (bps, positive = worse)")
    ax.set_ylabel("fills")
    ax.set_title(f"Realized slippage: n={result.count}, std {result.std_bps:.2f} bps")
    ax.legend()
    return _png(fig)


async def equity_chart(curve: list[tuple[float, float]]) -> bytes | None:
    if len(curve) < 2:
        return None
    return await asyncio.to_thread(_equity_png, curve)


async def slippage_histogram(result: SlippageResult) -> bytes | None:
    if result.count == 0:
        return None
    return await asyncio.to_thread(_slippage_png, result)
