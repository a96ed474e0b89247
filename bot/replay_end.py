"""The end of a `run --data` replay: said once (log, Slack, journal), then the run stops with
its summary; a console still open is left to its `quit` (or the end of its input) first."""

from __future__ import annotations

import asyncio

from ops.service.service import TradingService
from ops.shared import messages

CONSOLE = "console"  # the console's task (bot/app.py)


async def end_of_replay(service: TradingService, starting_cash: float, stop: asyncio.Event) -> None:
    await service.feed_done.wait()
    await service.engine.drain()  # the last bar's order updates are in the book
    pnl = service.book.equity() - starting_cash
    console = service.running(CONSOLE)
    bars = service.engine.progress().counters.bars
    service.notify(messages.replay_finished(bars, pnl, waits=console is not None))
    if console is not None:
        await asyncio.wait({console})
    stop.set()
