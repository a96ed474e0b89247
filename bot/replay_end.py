"""The end of a `run --data` replay: said once (log, Slack, journal), then the run stops with
its summary; a console still open is left to its `quit` (or the end of its input) first."""

from __future__ import annotations

import asyncio

from ops.shared import messages
from ops.watch.parts import WatchedParts

CONSOLE = "console"  # the console's task (bot/app.py)


async def end_of_replay(parts: WatchedParts, starting_cash: float, stop: asyncio.Event) -> None:
    await parts.run.feed_done.wait()
    await parts.engine.drain()  # the last bar's order updates are in the book
    pnl = parts.book.equity() - starting_cash
    console = parts.run.running(CONSOLE)
    bars = parts.engine.progress().counters.bars
    parts.incidents.notify(messages.replay_finished(bars, pnl, waits=console is not None))
    if console is not None:
        await asyncio.wait({console})
    stop.set()
