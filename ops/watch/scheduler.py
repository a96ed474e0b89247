"""Scheduled jobs on the service's own event loop (APScheduler's AsyncIOScheduler)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from strategy.venue import BrokerUnavailable

log = logging.getLogger(__name__)
Job = Callable[[], Awaitable[object]]
ReportError = Callable[[str, BaseException], None]  # where, what: journaled and alerted


def guarded(report_error: ReportError, name: str, job: Job) -> Callable[[], Awaitable[None]]:
    """A job that never dies silently: each failure is reported at this boundary. A broker
    that does not answer (timeout, 429, 5xx) is the broker check's incident, not the job's:
    one line in the log, and the job tries again at its next run."""

    async def run() -> None:
        try:
            await job()
        except asyncio.CancelledError:  # the run stops mid-job: APScheduler would log it as
            log.info("job %s stopped with the service", name)  # a failure, with a traceback
        except BrokerUnavailable as exc:
            log.warning("job %s: the broker did not answer (%s); next run retries", name, exc)
        except Exception as exc:  # the job's boundary: journaled, alerted once, counted
            report_error(f"job-{name}", exc)

    return run


class Scheduler:
    def __init__(self, report_error: ReportError) -> None:
        self._report_error = report_error
        self._scheduler = AsyncIOScheduler(timezone="America/New_York")

    def every(self, name: str, seconds: float, job: Job) -> None:
        self._add(name, job, "interval", seconds=seconds)

    def daily(self, name: str, hour: int, minute: int, job: Job) -> None:
        self._add(name, job, "cron", hour=hour, minute=minute)

    def _add(self, name: str, job: Job, trigger: str, **when: float) -> None:
        """One run at a time; runs missed while one was going are taken as one."""
        self._scheduler.add_job(
            guarded(self._report_error, name, job),
            trigger,
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            **when,
        )

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
