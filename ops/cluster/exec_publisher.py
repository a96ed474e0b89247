"""The order manager's updates on exec.{account}.{strategy}.{SYM}, in the order they came, each
with `update_msg_id` as its message id, and each published again until the server has it (a
lost update would leave a worker's order working)."""

from __future__ import annotations

import asyncio
import logging

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import PubAck

from ops.cluster.cancelling import raise_if_cancelling
from ops.cluster.codec import encode_update, update_msg_id
from ops.cluster.subjects import exec_subject
from strategy.types import OrderUpdate

log = logging.getLogger(__name__)
PUBLISH_RETRY_SEC = (0.05, 2.0)  # first wait, longest wait
PUBACK_SEC = 5.0  # for a pipelined update's PubAck, before it is published again alone


class ExecPublisher:
    def __init__(self, js: JetStreamContext, account: str) -> None:
        self._js = js
        self._account = account
        self._queue: asyncio.Queue[tuple[str, OrderUpdate]] = asyncio.Queue()
        self.published = 0

    def put(self, strategy: str, update: OrderUpdate) -> None:
        self._queue.put_nowait((strategy, update))

    async def drained(self) -> None:
        """Once every update put so far has its PubAck."""
        await self._queue.join()

    async def run(self) -> None:
        """Whatever the outbox holds, sent at once in its order; then every PubAck awaited."""
        while True:
            queued = [await self._queue.get()]
            while not self._queue.empty():
                queued.append(self._queue.get_nowait())
            try:
                await self._publish_all(queued)
            finally:
                for _ in queued:
                    self._queue.task_done()

    async def _publish_all(self, queued: list[tuple[str, OrderUpdate]]) -> None:
        """An update without its PubAck is published again, alone, until the server has it
        (the same message id: a copy already stored is dropped). Sent again after later ones,
        it reaches a worker's book late, which ignores a status that goes back. The PubAcks
        are awaited together, under one deadline (a timeout each cost as much as a publish)."""
        sent: list[tuple[str, OrderUpdate, asyncio.Future[PubAck] | None]] = []
        for strategy, update in queued:
            subject = exec_subject(self._account, strategy, update.symbol)
            headers = {"Nats-Msg-Id": update_msg_id(update)}
            try:
                future = await self._js.publish_async(
                    subject, encode_update(update), headers=headers
                )
            except NatsError as exc:
                log.warning("exec publish of %s failed: %r", update.client_order_id, exc)
                future = None
            sent.append((strategy, update, future))
        futures = [future for _, _, future in sent if future is not None]
        if futures:
            await asyncio.wait(futures, timeout=PUBACK_SEC)
        for future in futures:
            future.cancel()  # one still without its PubAck: given up (a done one is left as is)
        for strategy, update, future in sent:
            if future is not None:
                if future.done() and not future.cancelled() and future.exception() is None:
                    self.published += 1
                    continue
                raise_if_cancelling()
                log.warning("exec update %s: no PubAck (%r)", update.client_order_id, _why(future))
            await self._publish(strategy, update)

    async def _publish(self, strategy: str, update: OrderUpdate) -> None:
        """Until the server has it: a lost update would leave a worker's order working."""
        subject = exec_subject(self._account, strategy, update.symbol)
        headers = {"Nats-Msg-Id": update_msg_id(update)}
        delay, longest = PUBLISH_RETRY_SEC
        while True:
            try:
                await self._js.publish(subject, encode_update(update), headers=headers)
                self.published += 1
                return
            except (NatsError, TimeoutError) as exc:
                raise_if_cancelling()
                log.warning("exec publish %s failed, retrying: %r", subject, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest)


def _why(future: asyncio.Future[PubAck]) -> BaseException | str:
    """What became of a PubAck not had: its error, or none within PUBACK_SEC."""
    if future.done() and not future.cancelled():
        return future.exception() or "none"
    return f"none within {PUBACK_SEC:g} s"
