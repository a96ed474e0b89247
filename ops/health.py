"""Health checks shared by the scheduler and `/trade status`: each returns a result object,
and the scheduled run raises or resolves the matching incident."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass

from ops.service import TradingService
from strategy.venue import BrokerError

BROKER_TIMEOUT_SEC = 10.0


class Level(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class CheckResult:
    key: str
    level: Level
    message: str


def feed_freshness(service: TradingService) -> CheckResult:
    """The newest bar must be younger than two bar intervals of market time."""
    bar_sec = service.settings.number("sim.bar_sec")
    last = service.engine.last_bar_ts
    if last is None:
        return CheckResult("feed-stale", Level.WARN, "no bars received yet")
    age = service.clock.now() - (last + bar_sec)
    if age > 2 * bar_sec:
        return CheckResult("feed-stale", Level.CRITICAL, f"last bar is {age:.0f}s old")
    return CheckResult("feed-stale", Level.OK, f"last bar {age:.0f}s old")


async def broker_reachable(service: TradingService) -> CheckResult:
    try:
        account = await asyncio.wait_for(service.broker.account(), BROKER_TIMEOUT_SEC)
    except (BrokerError, TimeoutError) as exc:
        return CheckResult("broker", Level.CRITICAL, f"broker unreachable: {exc or 'timeout'}")
    return CheckResult("broker", Level.OK, f"broker reachable, equity ${account.equity:,.2f}")


async def run_checks(service: TradingService) -> list[CheckResult]:
    """Run every check; raise incidents for failures and resolve those that recovered."""
    results = [feed_freshness(service), await broker_reachable(service)]
    for result in results:
        if result.level is Level.CRITICAL:
            service.alert(result.key, result.level.value, result.message)
        elif result.level is Level.OK:
            service.resolve(result.key, result.message)
    return results
