"""Figure 3's main count: the broker REST calls of the jobs `tradebot run` schedules, each job
run for real (its own callable, the real alpaca-py clients, the Slack surface on the loopback
Slack) and its requests counted at the loopback Alpaca, with a position held in every symbol
so that a per-symbol read would show. Calls per minute = sum of calls per run x runs per minute
at the periods of the shipped config.yaml."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench.alpaca_rig import CASH, alpaca_rig
from bot.account import control_parts, watched_parts
from bot.slack.surface import SlackSurface
from ops.control.commands import CommandCore
from ops.control.confirm import Confirmations
from ops.service.service import TradingService
from ops.watch.safety_net import recover_at_start, schedule_service_jobs
from ops.watch.scheduler import Job, Scheduler
from tests.fakes.alpaca import AlpacaFake
from tests.fakes.slack import SlackFake

MINUTES_PER_DAY = 24 * 60
SHARES, PRICE = 10, 100.0
RUNS = 3  # each job is run this many times; its count is the mean per run


@dataclass(frozen=True, slots=True)
class JobCalls:
    name: str
    runs_per_min: float
    calls_per_run: float
    requests: tuple[str, ...]  # one run's, e.g. "GET /v2/account"

    @property
    def per_min(self) -> float:
        return self.runs_per_min * self.calls_per_run


class JobList(Scheduler):
    """Takes the registrations a Scheduler gets, keeping each job and its rate, schedules none."""

    def __init__(self, service: TradingService) -> None:
        super().__init__(service.report_error)
        self.jobs: list[tuple[str, float, Job]] = []

    def every(self, name: str, seconds: float, job: Job) -> None:
        self.jobs.append((name, 60.0 / seconds, job))

    def daily(self, name: str, hour: int, minute: int, job: Job) -> None:
        self.jobs.append((name, 1 / MINUTES_PER_DAY, job))


async def job_calls(names: tuple[str, ...], folder: Path) -> list[JobCalls]:
    """Each scheduled job's REST calls per run, with SHARES held in every symbol."""
    async with AlpacaFake(cash=CASH) as alpaca, SlackFake() as slack:
        for symbol in names:
            alpaca.prices[symbol] = PRICE
            alpaca.positions[symbol] = (SHARES, PRICE)
        rig = alpaca_rig(
            alpaca,
            names,
            folder,
            requests_per_min=10_000,
            **{"slack.api_url": slack.api_url, "slack.channel": "C1"},
        )
        service = rig.service
        jobs = JobList(service)
        watched = watched_parts(service)
        schedule_service_jobs(jobs, watched)
        for symbol in names:  # adopted earlier: the bot's own positions, not an operator's
            row = {"symbol": symbol, "qty": SHARES, "avg_price": PRICE, "user": "bench"}
            service.journal.record("adoptions", row)
        service.journal.flush()
        await rig.broker.start()
        await recover_at_start(watched, jobs)
        await service.start()
        core = CommandCore(control_parts(service), Confirmations(time.time, False), time.time)
        surface = SlackSurface(core, "xoxb-b", "xapp-b")
        surface.schedule(jobs)
        await surface.start()
        await slack.wait_connected(1)
        counted = []
        for name, runs_per_min, job in jobs.jobs:
            before = len(alpaca.requests)
            for _ in range(RUNS):
                await job()
            made = alpaca.requests[before:]
            last = made[len(made) - len(made) // RUNS :]
            requests = tuple(f"{method} {path}" for method, path in last)
            counted.append(JobCalls(name, runs_per_min, len(made) / RUNS, requests))
        errors = [key for key in service.open_alerts if key.startswith(("error:", "reconcile"))]
        await surface.stop()
        await rig.stop()
    if errors:
        raise RuntimeError(f"a job did not run cleanly: {errors}")
    return counted
