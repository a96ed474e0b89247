"""What every cluster role's command does the same way: logging, the NATS connection, the
streams, stopping on SIGINT/SIGTERM or after --duration, and its control-plane presence."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import TYPE_CHECKING

from ops.errors import StartupError

if TYPE_CHECKING:
    from nats.aio.client import Client

log = logging.getLogger("tradebot")
FIRST_CONNECT_SEC = 5.0


def log_to_stderr(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


async def connect(url: str, name: str | None = None) -> Client:
    """Reconnects forever once connected (a restarted nats-server is waited for), each failed
    attempt logged on one line; a server that does not answer within FIRST_CONNECT_SEC at
    start-up is a StartupError (exit 2), not a traceback."""
    import nats

    async def report(exc: Exception) -> None:
        log.warning("NATS %s: %s", url, exc)

    try:
        return await asyncio.wait_for(
            nats.connect(
                url, name=name, connect_timeout=2, max_reconnect_attempts=-1, error_cb=report
            ),
            FIRST_CONNECT_SEC,
        )
    except (OSError, TimeoutError, nats.errors.Error) as exc:
        why = str(exc) or f"no answer within {FIRST_CONNECT_SEC:g}s"
        raise StartupError(f"cannot reach NATS at {url}: {why}") from exc


async def run_until_stopped(
    work: Callable[[], Awaitable[object]], duration: float | None, what: str
) -> None:
    """Run `work` until it ends (re-raising its error), a signal, or `duration` seconds."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.ensure_future(work())
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopper}, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if task.done():
        task.result()
        return
    log.info("%s stopping", what)
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
