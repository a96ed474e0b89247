"""Scheduled jobs on the service's own event loop (APScheduler's AsyncIOScheduler)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from ops.service import TradingService

Job = Callable[[], Awaitable[object]]


def guarded(service: TradingService, name: str, job: Job) -> Callable[[], Awaitable[None]]:
    """A job that never dies silently: each failure is reported at this boundary."""

    async def run() -> None:
        try:
            await job()
        except Exception as exc:  # the job's boundary: journaled, alerted once, counted
            service.report_error(f"job-{name}", exc)

    return run


class Scheduler:
    def __init__(self, service: TradingService) -> None:
        self._service = service
        self._scheduler = AsyncIOScheduler(timezone="America/New_York")

    def every(self, name: str, seconds: float, job: Job) -> None:
        self._scheduler.add_job(
            guarded(self._service, name, job),
            "interval",
            seconds=seconds,
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
        )

    def daily(self, name: str, hour: int, minute: int, job: Job) -> None:
        self._scheduler.add_job(
            guarded(self._service, name, job),
            "cron",
            hour=hour,
            minute=minute,
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
        )

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
