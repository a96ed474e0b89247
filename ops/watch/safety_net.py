"""An account's safety net, composed once. `tradebot run` and each cluster order manager
(`tradebot oms`) build their guards here and nowhere else, so a check added here reaches both:
the monitor's scheduled checks (heartbeats and the dead-man, trade flow, drawdown and the
daily loss on marks to REDUCING, the broker; reconcile with the cash check; drift; the journal
prune), the journal's health, start-up recovery and the market clock, the kill switch (it
starts with the service) and the health endpoint that `tradebot kill` and `tradebot watchdog`
read. A surface (Slack, console) adds its own jobs to `scheduler`."""

from __future__ import annotations

from dataclasses import dataclass

from ops.journal import retention
from ops.service.recovery import recover
from ops.service.retry import read_at_start
from ops.service.service import TradingService
from ops.watch.health_endpoint import HealthEndpoint
from ops.watch.journal_watch import watch_journal
from ops.watch.monitor import Monitor
from ops.watch.scheduler import Scheduler

MARKET_CLOCK_SEC = 60.0
HEALTH_ENDPOINT = "health-endpoint"  # the incident of an endpoint that could not start


@dataclass(frozen=True, slots=True)
class Account:
    """One account as `tradebot run` and each order manager compose it, in one place
    (bot.venues.Venue.account): the trading service and its safety net, never one alone."""

    service: TradingService
    net: SafetyNet


class SafetyNet:
    def __init__(self, service: TradingService) -> None:
        """On the event loop, right after the service is built: the journal's health is
        watched from here on; the checks are scheduled, to run once `start` has run."""
        self._service = service
        self.scheduler = Scheduler(service)
        self._endpoint: HealthEndpoint | None = None
        watch_journal(service)
        schedule_service_jobs(self.scheduler, service)

    async def start(self, recover: bool) -> None:
        """Once the venue has started: recovery and the market clock for a real account (what
        it cannot read is a StartupError), then the service (engine, kill switch), the health
        endpoint and the scheduled checks."""
        if recover:
            await recover_at_start(self._service, self.scheduler)
        await self._service.start()
        self._endpoint = await _start_health_endpoint(self._service)
        self.scheduler.start()

    async def stop(self) -> None:
        """Before the service stops: no check runs during the shutdown."""
        self.scheduler.stop()
        if self._endpoint is not None:
            await self._endpoint.stop()


def schedule_service_jobs(scheduler: Scheduler, service: TradingService) -> None:
    """The monitoring jobs every run has (market-clock comes with recovery, the Slack
    surface's with the surface); bench figure 3 counts their broker calls."""
    settings = service.settings
    monitor = Monitor(service)
    scheduler.every("health", settings.number("monitoring.health_check_sec"), monitor.run)
    scheduler.every(
        "reconcile", settings.number("monitoring.reconcile_every_min") * 60, monitor.reconcile
    )
    scheduler.every("drift", settings.number("monitoring.drift_check_min") * 60, monitor.drift)
    scheduler.daily(
        "journal-prune", 4, 30, retention.scheduled(settings, service.journal, service.clock)
    )  # New York time


async def recover_at_start(service: TradingService, scheduler: Scheduler) -> None:
    """Rebuild the book from the broker and watch its market clock. Every read is retried
    alike; what still fails is a StartupError."""
    report = await recover(service.broker_facing())
    service.notify("\n".join(report.lines()))
    if report.differences:
        service.alert("startup", "warning", "; ".join(report.lines()[1:]))

    monitor = Monitor(service)
    await read_at_start(service.settings, monitor.market_clock, "Alpaca market clock")
    scheduler.every("market-clock", MARKET_CLOCK_SEC, monitor.market_clock)


async def _start_health_endpoint(service: TradingService) -> HealthEndpoint | None:
    """Its incident (the port taken, at this start or an earlier one) closes once it listens,
    or once it is switched off."""
    port = service.settings.integer("monitoring.health_port")
    if port == 0:
        service.resolve(HEALTH_ENDPOINT, "health endpoint off (monitoring.health_port: 0)")
        return None
    endpoint = HealthEndpoint(service, port)
    try:
        await endpoint.start()
    except OSError as exc:  # the port is taken: say so, keep trading
        service.alert(HEALTH_ENDPOINT, "warning", f"health endpoint not started: {exc}")
        return None
    service.resolve(HEALTH_ENDPOINT, f"health endpoint listening on port {endpoint.port}")
    return endpoint
