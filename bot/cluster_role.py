"""What every cluster role's command does the same way: its common options, logging, stopping on
SIGINT/SIGTERM or after --duration. Its NATS connection is ops.cluster.connection's."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress

from bot.logs import log_to_stderr

log = logging.getLogger("tradebot")


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
        return asyncio.run(stopped_cleanly_while_starting(serve(args, env), name))

    parser.set_defaults(run_role=run)
    return parser


async def stopped_cleanly_while_starting(serving: Awaitable[int], name: str) -> int:
    """A SIGINT/SIGTERM before the role's own stop is in place (connecting, restoring, a server
    restarting under it) stops it cleanly too: its start is cancelled and closes what it opened.
    Without this, Python's default action killed the process (exit -15) mid-start."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)  # the role replaces these once it runs
    task = asyncio.ensure_future(serving)
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if task.done():
        return task.result()
    log.info("%s stopped while starting", name)
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
    return 0


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
