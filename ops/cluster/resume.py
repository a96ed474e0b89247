"""Subscriptions that come back as soon as the connection does.

A restarted nats-server has lost every ephemeral consumer, and nats-py rebuilds an ordered one
only after two missed idle heartbeats (5 s each by default): the control watch, a worker's exec
feed and the order manager's marks were deaf for 10-20 s after the server answered again. The
connection's reconnected callback is a `Reconnects`; each subscriber registers a `resume` that
rebuilds its subscription from where it left off, retried until the server takes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from nats.errors import ConnectionClosedError
from nats.errors import Error as NatsError

log = logging.getLogger(__name__)
RETRY_SEC = (0.05, 1.0)  # first wait, longest wait between attempts to resume

Resume = Callable[[], Awaitable[None]]


class Reconnects:
    """The fan-out of one connection's reconnected callback (pass it as `reconnected_cb`)."""

    def __init__(self) -> None:
        self._listeners: dict[str, Resume] = {}
        self._running: dict[str, asyncio.Task[None]] = {}

    def add(self, name: str, resume: Resume) -> None:
        self._listeners[name] = resume

    def remove(self, name: str) -> None:
        self._listeners.pop(name, None)
        task = self._running.pop(name, None)
        if task is not None:
            task.cancel()

    async def __call__(self) -> None:
        """Each listener resumes in its own task: nats-py awaits this callback inside its
        reconnection, which must not wait for JetStream requests."""
        for name, resume in list(self._listeners.items()):
            previous = self._running.get(name)
            if previous is not None:
                previous.cancel()
            task = asyncio.create_task(self._retry(name, resume), name=f"resume-{name}")
            self._running[name] = task
            task.add_done_callback(lambda done, n=name: self._ended(n, done))

    def _ended(self, name: str, task: asyncio.Task[None]) -> None:
        if self._running.get(name) is task:
            del self._running[name]

    async def _retry(self, name: str, resume: Resume) -> None:
        delay, longest = RETRY_SEC
        while True:
            try:
                await resume()
                log.info("%s resumed after the NATS reconnection", name)
                return
            except ConnectionClosedError:
                return
            except (NatsError, TimeoutError) as exc:  # JetStream not answering yet
                log.warning("%s: not resumed yet (%r), retrying", name, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)
