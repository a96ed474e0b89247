"""The numbers a backtest is judged by, from its equity curve and its fills.

Costs are positive when they cost. A fill's gap from the signal bar's close splits in two:
latency (signal close -> the open of the bar it filled on, the one bar of delay) and slippage
(that open, the price expected, -> the fill).

Annualized return, Sharpe and win rate are withheld (NaN; null in JSON, with the reason)
below MIN_SAMPLE_DAYS New York days: on a day or two they are noise printed as a fact (a
Sharpe of 453 on a day and a half)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ops.backtest.run import Curve, FillRow, Outcome
from ops.shared import messages
from strategy.market_day import next_day_start
from strategy.types import Bar
from strategy.venues.bar_columns import BarColumns

TRADING_DAYS = 252
SESSION_SEC = 6.5 * 3600
MIN_SAMPLE_DAYS = 20  # New York days a run needs before its annualized figures are shown
SAMPLED = ("annual_return", "sharpe", "win_rate")  # withheld below MIN_SAMPLE_DAYS


def periods_per_year(bar_sec: int) -> float:
    """Bars in a trading year: 98,280 minute bars, or 252 daily bars."""
    return TRADING_DAYS if bar_sec >= 86_400 else TRADING_DAYS * SESSION_SEC / bar_sec


@dataclass(frozen=True, slots=True)
class Metrics:
    start_ts: float
    end_ts: float
    days: int  # New York days with equity in the curve: the sample the statistics rest on
    bars: int
    final_equity: float
    total_return: float
    annual_return: float
    sharpe: float
    max_drawdown: float
    drawdown_peak_ts: float
    drawdown_trough_ts: float
    orders: int
    fills: int
    trades: int  # round trips: flat -> position -> flat
    win_rate: float
    turnover: float  # traded notional / average equity
    commission: float
    slippage_bps: float  # mean over fills of expected -> fill, positive = worse
    slippage_cost: float  # $ of expected -> fill over all fills, positive = it cost
    latency_bps: float  # mean over fills of signal close -> expected, positive = worse
    latency_cost: float  # $ of signal close -> expected (the one bar of delay)
    slippage_cost_article: float  # the article's estimate: fills x mean slippage x avg size

    def as_dict(self) -> dict[str, object]:
        """For JSON: a withheld or undefined figure is null, and `n/a` says why."""
        figures: dict[str, object] = asdict(self)
        reasons = {name: not_shown(self, name) for name in SAMPLED}
        for name, value in figures.items():
            if isinstance(value, float) and math.isnan(value):
                figures[name] = None
        figures["n/a"] = {name: why for name, why in reasons.items() if why is not None}
        return figures


def sample_note(days: int) -> str:
    return messages.SMALL_SAMPLE.format(days=days, needs=MIN_SAMPLE_DAYS)


def not_shown(metrics: Metrics, name: str) -> str | None:
    """Why a statistic of SAMPLED reads n/a (the whole text), or None when it has a value."""
    if not math.isnan(getattr(metrics, name)):
        return None
    if metrics.days < MIN_SAMPLE_DAYS:
        return sample_note(metrics.days)
    return messages.NO_ROUND_TRIPS if name == "win_rate" else messages.NO_VARIATION


def signed_pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:+.2%}"


def plain(x: float, fmt: str = ".2f") -> str:
    return "n/a" if math.isnan(x) else format(x, fmt)


def annualized(m: Metrics) -> str:
    return not_shown(m, "annual_return") or signed_pct(m.annual_return)


def sharpe(m: Metrics) -> str:
    return not_shown(m, "sharpe") or plain(m.sharpe)


def win_rate(m: Metrics) -> str:
    return not_shown(m, "win_rate") or f"{m.win_rate:.1%}"


def _drawdown(curve: Curve) -> tuple[float, float, float]:
    """(max drawdown, ts of its peak, ts of its trough): the first deepest point, measured
    from the first time the running peak reached its value."""
    equity, ts = curve.equity, curve.ts
    peak = np.maximum.accumulate(equity)
    depth = np.divide(peak - equity, peak, out=np.zeros_like(equity), where=peak > 0)
    trough = int(np.argmax(depth))
    if not depth[trough] > 0:
        return 0.0, float(ts[0]), float(ts[0])
    top = int(np.flatnonzero(equity[: trough + 1] == peak[trough])[0])
    return float(depth[trough]), float(ts[top]), float(ts[trough])


def daily_closes(curve: Curve) -> list[float]:
    """The last equity of each New York day in the curve (in time order), in order."""
    ts, closes, start = curve.ts, [], 0
    while start < len(ts):
        end = int(np.searchsorted(ts, next_day_start(float(ts[start])), "left"))
        closes.append(float(curve.equity[end - 1]))
        start = end
    return closes


def _sharpe(start_equity: float, closes: Sequence[float]) -> float:
    """Annualized from daily returns (sqrt(252)): bar returns within a day are autocorrelated
    and would inflate it. n/a with fewer than two days."""
    equity = [start_equity, *closes]
    returns = [b / a - 1 for a, b in itertools.pairwise(equity) if a > 0]
    if len(returns) < 2:
        return math.nan
    mean = sum(returns) / len(returns)
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    return mean / std * math.sqrt(TRADING_DAYS) if std > 0 else math.nan


def expected_prices(fills: Sequence[FillRow], bars: Sequence[Bar], bar_sec: int) -> list[float]:
    """The open of the bar each fill executed on (bars in time order; a fill's ts is the end
    of that bar); the decision price when no such bar is found. One binary search per symbol's
    bars for all its fills at once."""
    columns = BarColumns.of(bars)
    expected = np.asarray([f.decision_price for f in fills], np.float64)
    starts = np.asarray([f.ts - bar_sec for f in fills], np.float64)
    names = np.asarray([f.symbol for f in fills], dtype=object)
    for code, symbol in enumerate(columns.names):
        mine = np.flatnonzero(names == symbol)
        if len(mine) == 0:
            continue
        rows = np.flatnonzero(columns.code == code)
        stamps = columns.ts[rows]
        at = np.minimum(np.searchsorted(stamps, starts[mine], "left"), len(rows) - 1)
        found = stamps[at] == starts[mine]
        expected[mine[found]] = columns.open[rows[at[found]]]
    return expected.tolist()


def slippage_per_fill(fills: Sequence[FillRow], expected: Sequence[float]) -> list[float]:
    """bps from the expected price to the fill, positive = worse."""
    return [f.sign * (f.price - e) / e * 1e4 for f, e in zip(fills, expected, strict=True)]


def _round_trips(fills: tuple[FillRow, ...]) -> list[float]:
    """P&L (after commissions) of each trade from flat back to flat, per symbol."""
    held: dict[str, tuple[int, float, float]] = {}  # symbol -> (qty, avg price, trip P&L)
    trips = []
    for fill in fills:
        signed = fill.sign * fill.qty
        position, avg, pnl = held.get(fill.symbol, (0, 0.0, 0.0))
        pnl -= fill.commission
        if position == 0 or (position > 0) == (signed > 0):
            total = position + signed
            avg = (avg * position + fill.price * signed) / total
            position = total
        else:
            closed = min(abs(signed), abs(position))
            pnl += (fill.price - avg) * closed * (1 if position > 0 else -1)
            remainder = position + signed
            if remainder == 0 or (remainder > 0) != (position > 0):
                trips.append(pnl)
                pnl = 0.0
                avg = fill.price
            position = remainder
        held[fill.symbol] = (position, avg, pnl)
    return trips


def compute(outcome: Outcome, bars: Sequence[Bar]) -> Metrics:
    """`bars` are the ones the run saw: they give each fill's expected price."""
    curve = outcome.curve
    start_equity = outcome.setup.starting_cash
    final = float(curve.equity[-1]) if len(curve) else start_equity
    per_year = periods_per_year(outcome.setup.bar_sec)
    years = max(len(curve) - 1, 1) / per_year
    total = final / start_equity - 1
    annual = (1 + total) ** (1 / years) - 1 if total > -1 else -1.0
    depth, peak_ts, trough_ts = _drawdown(curve) if len(curve) else (0.0, 0.0, 0.0)
    fills = outcome.fills
    expected = expected_prices(fills, bars, outcome.setup.bar_sec)
    notionals = [f.notional for f in fills]
    slip = slippage_per_fill(fills, expected)
    late = [
        f.sign * (e - f.decision_price) / f.decision_price * 1e4
        for f, e in zip(fills, expected, strict=True)
    ]
    mean_slippage = sum(slip) / len(fills) if fills else 0.0
    mean_size = sum(notionals) / len(notionals) if notionals else 0.0
    # summed in order, as the figures have always been (numpy's pairwise sum differs by ulps)
    average_equity = sum(curve.equity.tolist()) / len(curve) if len(curve) else start_equity
    trips = _round_trips(fills)
    closes = daily_closes(curve)
    days = len(closes)
    enough = days >= MIN_SAMPLE_DAYS
    return Metrics(
        start_ts=outcome.first_ts,
        end_ts=outcome.last_ts,
        days=days,
        bars=outcome.bars,
        final_equity=final,
        total_return=total,
        annual_return=annual if enough else math.nan,
        sharpe=_sharpe(start_equity, closes) if enough else math.nan,
        max_drawdown=depth,
        drawdown_peak_ts=peak_ts,
        drawdown_trough_ts=trough_ts,
        orders=outcome.orders,
        fills=len(fills),
        trades=len(trips),
        win_rate=sum(1 for p in trips if p > 0) / len(trips) if trips and enough else math.nan,
        turnover=sum(notionals) / average_equity if average_equity > 0 else math.nan,
        commission=sum(f.commission for f in fills),
        slippage_bps=mean_slippage,
        slippage_cost=sum(
            f.sign * f.qty * (f.price - e) for f, e in zip(fills, expected, strict=True)
        ),
        latency_bps=sum(late) / len(fills) if fills else 0.0,
        latency_cost=sum(
            f.sign * f.qty * (e - f.decision_price) for f, e in zip(fills, expected, strict=True)
        ),
        slippage_cost_article=len(fills) * mean_slippage / 1e4 * mean_size,
    )
