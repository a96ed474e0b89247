"""Health checks and the dead-man. Each check returns a result object; the scheduled run turns
results into incidents (raise / resolve) and `/trade status` shows the latest ones, so the
operator and the job read the same code.

Ages are in the venue's market time (the simulator's accelerated clock, or wall time live),
so the same limits hold at any replay speed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from ops.backtest.reference import find as find_reference
from ops.safety.trading_state import DEADMAN_BY
from ops.service.reconcile import reconcile
from ops.shared.formatting import money
from ops.shared.results import CheckResult, Level
from ops.watch.drift import check as drift_check
from ops.watch.parts import WatchedParts
from strategy.types import TradingState
from strategy.venue import BrokerError

BROKER_TIMEOUT_SEC = 10.0
DEADMAN = "dead-man"
DEADMAN_KEYS = frozenset({"feed-stale", "broker"})
SLACK_LOST = "slack-lost"  # raised by the Slack surface when pause_on_slack_lost_sec is set
BAR_TO_ORDER_STAGES = ("ingest", "features", "decision", "submit")
HOUR = 3600.0
# this machine's clock against the broker's: NTP keeps it within milliseconds, a request adds < 1 s
CLOCK_SKEW_ALERT_SEC = 10.0


SEVERITY = {Level.WARN: "warning", Level.CRITICAL: "critical"}


def _ok(key: str, message: str, **data: object) -> CheckResult:
    return CheckResult(key, Level.OK, message, data)


def heartbeats(parts: WatchedParts) -> list[CheckResult]:
    """The feed stamps each bar it receives, the engine each bar it processes; either older
    than `monitoring.stale_after_sec` while the market is open fails."""
    settings = parts.settings()
    limit = settings.number("monitoring.stale_after_sec")
    bar_sec = settings.number("sim.bar_sec")
    now = parts.clock.now()
    results = []
    stamps = (
        ("feed-stale", "feed", parts.feed.last_bar_ts),
        ("engine-stale", "engine", parts.engine.progress().last_bar_ts),
    )
    for key, what, stamp in stamps:
        if not parts.gate.market_open:
            results.append(_ok(key, f"{what}: market closed"))
        elif parts.run.feed_ended:  # a replay that ran out: its end is said once, not alerted
            results.append(_ok(key, f"{what}: the bar source ended (replay finished)"))
        elif not parts.run.engine_running:
            results.append(
                CheckResult(key, Level.CRITICAL, f"{what}: the engine task is not running")
            )
        elif stamp is None:  # none yet: judged by the time since start-up instead
            waited = time.monotonic() - parts.run.started_at
            level = Level.CRITICAL if waited > limit else Level.OK
            results.append(CheckResult(key, level, f"{what}: no bar in {waited:.0f}s since start"))
        else:
            age = now - (stamp + bar_sec)
            level = Level.CRITICAL if age > limit else Level.OK
            results.append(
                CheckResult(key, level, f"{what}: last bar {age:.0f}s old", {"age": age})
            )
    return results


def _stopped_on_purpose(parts: WatchedParts) -> str | None:
    """Why no order flow is expected: HALTED, or PAUSED by a person (not the dead-man)."""
    state = parts.trading.state
    if state is TradingState.HALTED or (
        state is TradingState.PAUSED and not parts.trading.paused_by_deadman
    ):
        return f"trading {state}"
    return None


def trade_flow(parts: WatchedParts) -> list[CheckResult]:
    """Too many orders today, or signals without orders for hours. Neither is checked while
    trading is HALTED or PAUSED by a person; `no-trades` only while entries are allowed (a
    REDUCING or dead-man state refuses them on purpose and has its own incident)."""
    state = parts.trading.state
    stopped = _stopped_on_purpose(parts)
    if stopped is not None:
        message = f"{stopped}: order flow not checked"
        return [replace(_ok(key, message), state=state) for key in ("trade-flow", "no-trades")]
    orders = parts.gate.orders_today
    most = parts.settings().integer("monitoring.max_trades_per_day")
    if orders > most:
        flow = CheckResult(
            "trade-flow", Level.WARN, f"{orders} orders today, above the {most} expected"
        )
    else:
        flow = _ok("trade-flow", f"{orders} orders today (alert above {most})")
    progress = parts.engine.progress()
    quiet_hours = parts.settings().number("monitoring.no_trade_alert_hours")
    since, waiting = progress.quiet_since, progress.signals_since_order
    idle = (parts.clock.now() - since) / HOUR if since is not None else 0.0
    entries = state.allows_entries
    if entries and parts.gate.market_open and waiting > 0 and idle >= quiet_hours:
        quiet = CheckResult(
            "no-trades",
            Level.WARN,
            f"no order for {idle:.1f}h while {waiting} signal(s) were generated "
            "(refused by the risk gate? see the refusals in the journal)",
        )
    else:
        quiet = _ok("no-trades", f"{waiting} signal(s) since the last order")
    return [replace(result, state=state) for result in (flow, quiet)]  # they rest on it


def drawdown(
    parts: WatchedParts, reference: float | None, ignored: str | None = None
) -> CheckResult:
    """Alert at 1.5x the backtest's max drawdown when one is recorded, else at
    drawdown_alert_pct (saying why a recorded reference is `ignored`, if one is); at
    drawdown_halt_pct trading halts."""
    settings = parts.settings()
    current = parts.book.drawdown()
    alert_at = 1.5 * reference if reference else settings.number("monitoring.drawdown_alert_pct")
    basis = "1.5x the backtest's max drawdown" if reference else "drawdown_alert_pct"
    if ignored and not reference:
        basis += f"; {ignored}"
    halt_at = settings.number("monitoring.drawdown_halt_pct")
    data = {"drawdown": current, "alert_at": alert_at, "halt_at": halt_at}
    if current >= halt_at:
        message = f"drawdown {current:.2%} reached the {halt_at:.0%} hard limit"
        return CheckResult("drawdown", Level.CRITICAL, message, data)
    if current > alert_at:
        message = f"drawdown {current:.2%} from peak is above {alert_at:.2%} ({basis})"
        return CheckResult("drawdown", Level.WARN, message, data)
    return CheckResult(
        "drawdown", Level.OK, f"drawdown {current:.2%} (alert at {alert_at:.2%}: {basis})", data
    )


def latency(parts: WatchedParts) -> CheckResult:
    """p99 bar-to-order latency = the sum of the stages' p99s; names the dominant stage."""
    stages = [s for s in parts.latency.summary() if s.stage in BAR_TO_ORDER_STAGES and s.count]
    if not stages:
        return _ok("latency", "no latency samples yet")
    total_ms = sum(s.p99_us for s in stages) / 1e3
    worst = max(stages, key=lambda s: s.p99_us)
    limit = parts.settings().number("monitoring.latency_alert_ms")
    message = (
        f"p99 bar-to-order {total_ms:.1f} ms (limit {limit:.0f} ms); "
        f"{worst.stage} dominates at {worst.p99_us / 1e3:.1f} ms"
    )
    level = Level.WARN if total_ms > limit else Level.OK
    return CheckResult("latency", level, message, {"p99_ms": total_ms, "stage": worst.stage})


async def broker_reachable(parts: WatchedParts) -> CheckResult:
    try:
        account = await asyncio.wait_for(parts.broker.account(), BROKER_TIMEOUT_SEC)
    except (BrokerError, TimeoutError) as exc:
        return CheckResult("broker", Level.CRITICAL, f"broker unreachable: {exc or 'timeout'}")
    if account.blocked:
        return CheckResult(
            "broker",
            Level.CRITICAL,
            f"the broker blocks trading on the account ({account.blocked}): every order, exits "
            "included, will be refused until it lifts the block",
        )
    return _ok("broker", f"broker reachable, equity {money(account.equity)}")


def clock_skew(parts: WatchedParts, broker_now: float) -> CheckResult:
    """This machine's clock against the broker's: ahead, bars look older than they are (past
    risk.stale_bar_sec every entry is refused as stale); behind, newer."""
    skew = parts.clock.now() - broker_now
    if abs(skew) <= CLOCK_SKEW_ALERT_SEC:
        return _ok("clock-skew", f"clock within {CLOCK_SKEW_ALERT_SEC:g}s of the broker's")
    stale = parts.settings().number("risk.stale_bar_sec")
    looks = "older" if skew > 0 else "newer"
    return CheckResult(
        "clock-skew",
        Level.WARN,
        f"this machine's clock is {skew:+.0f}s off the broker's: bars and prices look {looks} "
        f"than they are (past risk.stale_bar_sec, {stale:g}s, every entry is refused as stale); "
        "sync the clock (NTP)",
    )


async def reconciliation(parts: WatchedParts) -> CheckResult:
    """Scheduled every `monitoring.reconcile_every_min`; mismatches are their own incidents."""
    result = await reconcile(parts.broker_facing)
    if result.broker_error is not None:
        return CheckResult("reconcile", Level.WARN, f"broker unreadable: {result.broker_error}")
    if result.mismatches:
        names = ", ".join(r.symbol for r in result.mismatches)
        return CheckResult("reconcile", Level.CRITICAL, f"book and broker differ: {names}")
    return _ok("reconcile", "book and broker agree")


class Monitor:
    """Runs the checks, keeps the latest results for status, raises and resolves incidents,
    and pauses entries while the feed or the broker is down (the dead-man)."""

    def __init__(self, parts: WatchedParts) -> None:
        self._parts = parts
        self.results: dict[str, CheckResult] = parts.checks  # what `/trade status` shows

    async def run(self) -> list[CheckResult]:
        parts = self._parts
        results = [
            *heartbeats(parts),
            *trade_flow(parts),
            drawdown(parts, *await self._reference_drawdown()),
            latency(parts),
            await broker_reachable(parts),
        ]
        self._publish(results)
        self._apply_risk_limits()
        self._deadman()
        return results

    async def market_clock(self) -> None:
        """The broker's market clock, every minute: whether entries may open (with
        broker.regular_hours_only), and this machine's clock against it."""
        parts = self._parts
        clock = await parts.broker.clock()
        if parts.settings().get("broker.regular_hours_only"):
            parts.gate.market_open = clock.is_open
        self._publish([clock_skew(parts, clock.ts)])

    async def drift(self) -> list[CheckResult]:
        """Live against the backtest reference; scheduled every `drift_check_min`."""
        parts = self._parts
        results = await drift_check(parts.settings(), parts.journal, parts.clock.now())
        self._publish(results)
        return results

    async def reconcile(self) -> CheckResult:
        result = await reconciliation(self._parts)
        self.results[result.key] = self._stamped(result)
        return result

    def _stamped(self, result: CheckResult) -> CheckResult:
        """As `/trade status` shows it: with the market time it was made at (its age)."""
        return replace(result, checked_at=self._parts.clock.now())

    def _publish(self, results: list[CheckResult]) -> None:
        for result in results:
            self.results[result.key] = self._stamped(result)
            if result.level is Level.OK:
                self._parts.incidents.resolve(result.key, result.message)
            else:
                self._parts.incidents.alert(result.key, SEVERITY[result.level], result.message)

    def _apply_risk_limits(self) -> None:
        """The hard drawdown limit, and the daily-loss limit on marks alone (no fill or entry
        may come to check it): either moves trading to REDUCING through the state's owner."""
        parts = self._parts
        result = self.results.get("drawdown")
        if result is not None and result.level is Level.CRITICAL:
            parts.trading.risk_breach(result.message)
        daily = parts.gate.check_daily_loss(parts.book)
        if daily is not None:
            parts.trading.risk_breach(daily.reason)

    def _deadman(self) -> None:
        parts = self._parts
        failing = [
            r.message
            for r in self.results.values()
            if r.key in DEADMAN_KEYS and r.level is Level.CRITICAL
        ]
        if SLACK_LOST in parts.incidents.open:
            failing.append(parts.incidents.open[SLACK_LOST])
        state = parts.trading.state
        if failing:
            if state is TradingState.ACTIVE:
                why = "; ".join(failing)
                parts.trading.change(TradingState.PAUSED, f"{DEADMAN}: {why}", DEADMAN_BY)
                parts.incidents.alert(DEADMAN, "critical", f"entries PAUSED automatically: {why}")
            return
        if parts.trading.paused_by_deadman:
            if parts.settings().get("monitoring.deadman_resume_needs_confirm"):
                parts.incidents.alert(
                    DEADMAN,
                    "warning",
                    "healthy again; entries stay PAUSED until an operator confirms `/trade resume`",
                )
                return
            parts.trading.change(TradingState.ACTIVE, f"{DEADMAN}: healthy again", DEADMAN_BY)
            parts.incidents.resolve(DEADMAN, "healthy again; entries resumed")
        elif state is TradingState.ACTIVE:
            parts.incidents.resolve(DEADMAN, "healthy again; entries resumed")
        else:  # someone else's state now (an operator's pause, a kill): theirs to lift
            parts.incidents.resolve(
                DEADMAN, f"healthy again; trading stays {state} ({parts.trading.reason})"
            )

    async def _reference_drawdown(self) -> tuple[float | None, str | None]:
        """The max drawdown of the reference backtest, if one is recorded, and why a newer
        one recorded is ignored (made from synthetic bars, or written by hand)."""
        found = await find_reference(self._parts.journal)
        return (found.reference.max_drawdown if found.reference else None), found.ignored
