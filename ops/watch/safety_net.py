"""An account's safety net, composed once. `tradebot run` and each cluster order manager
(`tradebot oms`) build their guards here and nowhere else, so a check added here reaches both:
the monitor's scheduled checks (heartbeats and the dead-man, trade flow, drawdown and the
daily loss on marks to REDUCING, the broker; reconcile with the cash check; drift; the journal
prune), the journal's health, start-up recovery and the market clock, the kill switch (it
starts with the service) and the health endpoint that `tradebot kill` and `tradebot watchdog`
read. A surface (Slack, console) adds its own jobs to `scheduler`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ops.journal import retention
from ops.service.recovery import recover
from ops.service.retry import read_at_start
from ops.watch.health_endpoint import HealthEndpoint
from ops.watch.journal_watch import watch_journal
from ops.watch.monitor import Monitor
from ops.watch.parts import WatchedParts
from ops.watch.scheduler import Scheduler

MARKET_CLOCK_SEC = 60.0
HEALTH_ENDPOINT = "health-endpoint"  # the incident of an endpoint that could not start


class SafetyNet:
    def __init__(self, parts: WatchedParts, start_service: Callable[[], Awaitable[None]]) -> None:
        """On the event loop, right after the service is built: the journal's health is
        watched from here on; the checks are scheduled, to run once `start` has run.
        `start_service` starts the trading service (its engine and kill switch)."""
        self._parts = parts
        self._start_service = start_service
        self.scheduler = Scheduler(parts.incidents.report_error)
        self._endpoint: HealthEndpoint | None = None
        watch_journal(parts.journal, parts.incidents, parts.trading)
        schedule_service_jobs(self.scheduler, parts)

    async def start(self, recover: bool) -> None:
        """Once the venue has started: recovery and the market clock for a real account (what
        it cannot read is a StartupError), then the service (engine, kill switch), the health
        endpoint and the scheduled checks."""
        if recover:
            await recover_at_start(self._parts, self.scheduler)
        await self._start_service()
        self._endpoint = await _start_health_endpoint(self._parts)
        self.scheduler.start()

    async def stop(self) -> None:
        """Before the service stops: no check runs during the shutdown."""
        self.scheduler.stop()
        if self._endpoint is not None:
            await self._endpoint.stop()


def schedule_service_jobs(scheduler: Scheduler, parts: WatchedParts) -> None:
    """The monitoring jobs every run has (market-clock comes with recovery, the Slack
    surface's with the surface); bench figure 3 counts their broker calls."""
    settings = parts.settings()
    monitor = Monitor(parts)
    scheduler.every("health", settings.number("monitoring.health_check_sec"), monitor.run)
    scheduler.every(
        "reconcile", settings.number("monitoring.reconcile_every_min") * 60, monitor.reconcile
    )
    scheduler.every("drift", settings.number("monitoring.drift_check_min") * 60, monitor.drift)
    scheduler.daily(
        "journal-prune", 4, 30, retention.scheduled(settings, parts.journal, parts.clock)
    )  # New York time


async def recover_at_start(parts: WatchedParts, scheduler: Scheduler) -> None:
    """Rebuild the book from the broker and watch its market clock. Every read is retried
    alike; what still fails is a StartupError."""
    report = await recover(parts.broker_facing)
    incidents = parts.incidents
    incidents.notify("\n".join(report.lines()))
    if report.differences:
        incidents.alert("startup", "warning", "; ".join(report.lines()[1:]))

    monitor = Monitor(parts)
    await read_at_start(parts.settings(), monitor.market_clock, "Alpaca market clock")
    scheduler.every("market-clock", MARKET_CLOCK_SEC, monitor.market_clock)


async def _start_health_endpoint(parts: WatchedParts) -> HealthEndpoint | None:
    """Its incident (the port taken, at this start or an earlier one) closes once it listens,
    or once it is switched off."""
    port = parts.settings().integer("monitoring.health_port")
    if port == 0:
        parts.incidents.resolve(HEALTH_ENDPOINT, "health endpoint off (monitoring.health_port: 0)")
        return None
    endpoint = HealthEndpoint(parts, port)
    try:
        await endpoint.start()
    except OSError as exc:  # the port is taken: say so, keep trading
        parts.incidents.alert(HEALTH_ENDPOINT, "warning", f"health endpoint not started: {exc}")
        return None
    parts.incidents.resolve(HEALTH_ENDPOINT, f"health endpoint listening on port {endpoint.port}")
    return endpoint
