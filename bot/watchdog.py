"""Wiring `tradebot watchdog`: the poll loop until --duration or a signal; where its alerts go
is bot.slack.watchdog_notify's."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from ops.watch.watchdog import Notify, Watchdog


async def watch(
    url: str,
    notify: Notify,
    interval: float,
    repeat: float,
    duration: float | None,
) -> int:
    dog = Watchdog(url, notify, interval_sec=interval, repeat_sec=repeat)
    task = asyncio.get_running_loop().create_task(dog.run(), name="watchdog")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=duration)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return 0
