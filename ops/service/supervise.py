"""Long-lived tasks that outlive their own failures: each failure is reported (logged,
journaled, an incident) and the task starts again after a pause, until it returns or is
cancelled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)
RESTART_SEC = 1.0

Report = Callable[[str, BaseException], None]  # where, what


async def supervised(
    name: str,
    run: Callable[[], Coroutine[Any, Any, None]],
    report: Report,
    restart_sec: Callable[[], float],
) -> None:
    while True:
        try:
            await run()
            return
        except Exception as exc:  # a cancellation is not a failure: it ends the task
            report(f"task-{name}", exc)
        pause = restart_sec()
        log.warning("%s restarts in %gs", name, pause)
        await asyncio.sleep(pause)
