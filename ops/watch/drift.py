"""Is live trading keeping up with its backtest? Compares the last `drift_window_days` of
equity and realized slippage with the reference backtest and says so plainly when not."""

from __future__ import annotations

import math

from ops.backtest.metrics import sample_note
from ops.backtest.reference import find
from ops.config.settings import Settings
from ops.journal.journal import Journal
from ops.shared.results import CheckResult, Level

DAY = 86_400.0
YEAR = 365.25 * DAY
MIN_DAYS = 1.0  # annualizing less than a day of history says nothing


async def check(settings: Settings, journal: Journal, now: float) -> list[CheckResult]:
    """`now`: the market time the window ends at."""
    found = await find(journal)
    reference = found.reference
    if reference is None:
        return [
            CheckResult("drift", Level.OK, found.ignored or "no backtest reference recorded yet")
        ]
    window = settings.number("monitoring.drift_window_days") * DAY
    since = now - window
    curve = await journal.aquery(
        "select ts, equity from equity where ts >= ? order by ts", (since,)
    )
    fills = await journal.aquery(
        "select slippage_bps from fills where ts >= ? and slippage_bps is not null", (since,)
    )
    returns = (
        CheckResult(
            "drift",
            Level.OK,
            f"the reference's annualized return is {sample_note(reference.days)}: "
            "live returns are not compared with it",
        )
        if math.isnan(reference.annual_return)
        else _returns(
            curve, reference.annual_return, settings.number("monitoring.drift_return_gap")
        )
    )
    return [
        returns,
        _slippage(
            fills, reference.slippage_bps, settings.number("monitoring.drift_slippage_margin_bps")
        ),
    ]


def _returns(curve: list[dict[str, object]], expected: float, gap: float) -> CheckResult:
    if len(curve) < 2:
        return CheckResult("drift", Level.OK, "no live equity history in the window yet")
    span = float(curve[-1]["ts"]) - float(curve[0]["ts"])  # type: ignore[arg-type]
    if span < MIN_DAYS * DAY:
        return CheckResult("drift", Level.OK, f"only {span / 3600:.1f}h of live history")
    growth = float(curve[-1]["equity"]) / float(curve[0]["equity"])  # type: ignore[arg-type]
    live = growth ** (YEAR / span) - 1
    data = {"live_annual": live, "backtest_annual": expected, "days": span / DAY}
    if live < expected - gap:
        return CheckResult(
            "drift",
            Level.WARN,
            f"live returns {live:+.1%} annualized over {span / DAY:.0f} days against the "
            f"backtest's {expected:+.1%}: {expected - live:.1%} behind. The strategy is not "
            "doing what it was tested to do: consider stopping this strategy.",
            data,
        )
    return CheckResult("drift", Level.OK, f"live {live:+.1%} vs backtest {expected:+.1%}", data)


def _slippage(fills: list[dict[str, object]], assumed: float, margin: float) -> CheckResult:
    if not fills:
        return CheckResult("drift-slippage", Level.OK, "no live fills in the window yet")
    mean = sum(float(f["slippage_bps"]) for f in fills) / len(fills)  # type: ignore[arg-type]
    if mean > assumed + margin:
        return CheckResult(
            "drift-slippage",
            Level.WARN,
            f"realized slippage {mean:+.2f} bps over {len(fills)} fills exceeds the backtest's "
            f"{assumed:+.2f} bps by more than {margin:.1f}: its returns are overstated; "
            "consider stopping this strategy or re-running the backtest with --slippage live.",
        )
    return CheckResult(
        "drift-slippage", Level.OK, f"realized {mean:+.2f} bps vs assumed {assumed:+.2f} bps"
    )
