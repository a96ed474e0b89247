"""What every cluster role's command does the same way: its common options, logging, the NATS
connection, stopping on SIGINT/SIGTERM or after --duration."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from typing import TYPE_CHECKING

from bot.logs import log_to_stderr
from ops.errors import StartupError

if TYPE_CHECKING:
    from nats.aio.client import Client

    from ops.cluster.resume import Reconnects

log = logging.getLogger("tradebot")
FIRST_CONNECT_SEC = 5.0
RECONNECT_WAIT_SEC = 0.5  # between attempts: a restarted server is found within this


def add_role_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help: str,
    serve: Callable[[argparse.Namespace, Mapping[str, str]], Awaitable[int]],
) -> argparse.ArgumentParser:
    """A role's subcommand with the options every role takes (--config, --duration, -v); it
    logs to stderr and runs `serve(args, env)`. The caller adds the role's own options."""
    parser = sub.add_parser(name, help=help)
    parser.add_argument("--config", help="config file (default: $TRADEBOT_CONFIG or config.yaml)")
    parser.add_argument("--duration", type=float, help="stop cleanly after this many seconds")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
        log_to_stderr(args.verbose)
        return asyncio.run(serve(args, env))

    parser.set_defaults(run_role=run)
    return parser


async def connect(
    url: str, name: str | None = None, reconnects: Reconnects | None = None
) -> Client:
    """Reconnects forever once connected (a restarted nats-server is waited for, tried every
    RECONNECT_WAIT_SEC), each failed attempt logged on one line; once back, `reconnects` has
    every subscription resumed at once. A server that does not answer within
    FIRST_CONNECT_SEC at start-up is a StartupError (exit 2), not a traceback."""
    import nats

    async def report(exc: Exception) -> None:
        log.warning("NATS %s: %s", url, exc)

    async def back() -> None:
        log.info("NATS %s: reconnected", url)
        if reconnects is not None:
            await reconnects()

    try:
        return await asyncio.wait_for(
            nats.connect(
                url,
                name=name,
                connect_timeout=2,
                max_reconnect_attempts=-1,
                reconnect_time_wait=RECONNECT_WAIT_SEC,
                error_cb=report,
                reconnected_cb=back,
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
