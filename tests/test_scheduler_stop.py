"""A scheduled job still running when the service stops ends quietly: APScheduler logged its
cancellation as a failed job, with a traceback, at every stop that caught a job mid-flight."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from ops.watch.scheduler import Scheduler
from tests.support import make_harness


async def test_a_job_cancelled_at_stop_logs_no_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The job's task is cancelled as the loop's tasks are at shutdown: no ERROR, no traceback."""
    caplog.set_level(logging.INFO)
    h = make_harness(tmp_path)
    running = asyncio.Event()

    async def slow() -> None:
        running.set()
        await asyncio.Event().wait()  # a request that never answers

    scheduler = Scheduler(h.service.report_error)
    scheduler.every("slow", 0.01, slow)
    scheduler.start()
    await running.wait()
    scheduler.stop()
    jobs = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in jobs:
        task.cancel()
    await asyncio.wait(jobs, timeout=5)
    await asyncio.sleep(0)  # the executor's done-callbacks run
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "job slow stopped with the service" in caplog.text
    h.journal.close()
