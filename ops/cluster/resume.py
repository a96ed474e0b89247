"""Subscriptions that come back as soon as the connection does.

A restarted nats-server has lost every ephemeral consumer, and nats-py rebuilds an ordered one
only after two missed idle heartbeats (5 s each by default): the control watch, a worker's exec
feed and the order manager's marks were deaf for 10-20 s after the server answered again. The
connection's reconnected callback is a `Reconnects`; each subscriber registers a `resume` that
rebuilds its subscription from where it left off (`OrderedFeed`), retried until the server
takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import ConnectionClosedError
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from ops.cluster.replay import stream_seq

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
            except Exception:
                log.exception("%s: not resumed after the NATS reconnection", name)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)


class OrderedFeed:
    """An ordered consumer (nothing to acknowledge, nothing left on the server when the
    process stops) that a reconnection rebuilds at once from the message after the last one
    delivered; a copy from the replaced consumer is dropped by its stream sequence. It starts
    after stream sequence `after`, or with each subject's newest message (`newest_first`)."""

    def __init__(
        self,
        js: JetStreamContext,
        stream: str,
        filters: Sequence[str],
        on_msg: Callable[[Msg], Awaitable[None]],
        name: str,
        reconnects: Reconnects | None,
        after: int = 0,
        newest_first: bool = False,
    ) -> None:
        self._js = js
        self._stream = stream
        self._filters = list(filters)
        self._on_msg = on_msg
        self._name = name
        self._reconnects = reconnects
        self.last_seq = after
        self._newest_first = newest_first
        self._sub: Subscription | None = None

    async def start(self) -> None:
        await self._subscribe()
        if self._reconnects is not None:
            self._reconnects.add(self._name, self._subscribe)

    async def stop(self) -> None:
        if self._reconnects is not None:
            self._reconnects.remove(self._name)
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _subscribe(self) -> None:
        old, self._sub = self._sub, None
        if old is not None:
            with contextlib.suppress(NatsError):
                await old.unsubscribe()
        if self._newest_first and not self.last_seq:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)
        else:
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.last_seq + 1
            )
        if len(self._filters) > 1:
            config.filter_subjects = self._filters
        self._sub = await self._js.subscribe(
            self._filters[0],
            stream=self._stream,
            cb=self._deliver,
            ordered_consumer=True,
            config=config,
        )

    async def _deliver(self, msg: Msg) -> None:
        seq = stream_seq(msg)
        if seq <= self.last_seq:
            return
        self.last_seq = seq
        await self._on_msg(msg)
