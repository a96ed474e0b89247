"""The order manager's updates on exec.{account}.{strategy}.{SYM}, in the order they came, each
with `update_msg_id` as its message id, and each published again until the server has it (a
lost update would leave a worker's order working).

A run of consecutive updates of one strategy token put in one round (a minute's fills and
cancels, made at one bar) goes out as one message on exec.{account}.{strategy}._batch, up to
BATCH_MAX updates, its id a digest of theirs: the same batch published again de-duplicates. A
message each cost the order manager as much as the rest of an update's handling."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import PubAck

from ops.cluster.cancelling import raise_if_cancelling
from ops.cluster.codec import encode_update, encode_updates, update_msg_id, updates_msg_id
from ops.cluster.subjects import exec_batch_subject, exec_subject
from strategy.types import OrderUpdate

log = logging.getLogger(__name__)
PUBLISH_RETRY_SEC = (0.05, 2.0)  # first wait, longest wait
PUBACK_SEC = 5.0  # for a pipelined message's PubAck, before it is published again alone
BATCH_MAX = 256  # updates in one message: ~70 KB, well under the server's max_payload (1 MB)


@dataclass(frozen=True, slots=True)
class _Message:
    subject: str
    data: bytes
    msg_id: str
    updates: int

    @classmethod
    def of(cls, account: str, strategy: str, updates: Sequence[OrderUpdate]) -> _Message:
        if len(updates) == 1:
            [update] = updates
            subject = exec_subject(account, strategy, update.symbol)
            return cls(subject, encode_update(update), update_msg_id(update), 1)
        subject = exec_batch_subject(account, strategy)
        return cls(subject, encode_updates(updates), updates_msg_id(updates), len(updates))


class ExecPublisher:
    def __init__(self, js: JetStreamContext, account: str) -> None:
        self._js = js
        self._account = account
        self._queue: asyncio.Queue[tuple[str, OrderUpdate]] = asyncio.Queue()
        self.published = 0  # updates stored

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
                await self._publish_all(self._messages(queued))
            finally:
                for _ in queued:
                    self._queue.task_done()

    def _messages(self, queued: list[tuple[str, OrderUpdate]]) -> list[_Message]:
        """Consecutive updates of one strategy token together, in their order."""
        messages: list[_Message] = []
        run: list[OrderUpdate] = []
        token = ""
        for strategy, update in queued:
            if run and (strategy != token or len(run) == BATCH_MAX):
                messages.append(_Message.of(self._account, token, run))
                run = []
            token = strategy
            run.append(update)
        if run:
            messages.append(_Message.of(self._account, token, run))
        return messages

    async def _publish_all(self, messages: list[_Message]) -> None:
        """A message without its PubAck is published again, alone, until the server has it
        (the same message id: a copy already stored is dropped). Sent again after later ones,
        its updates reach a worker's book late, which ignores a status that goes back. The
        PubAcks are awaited together, under one deadline."""
        sent: list[tuple[_Message, asyncio.Future[PubAck] | None]] = []
        for message in messages:
            try:
                future = await self._js.publish_async(
                    message.subject, message.data, headers={"Nats-Msg-Id": message.msg_id}
                )
            except NatsError as exc:
                log.warning("exec publish %s failed: %r", message.msg_id, exc)
                future = None
            sent.append((message, future))
        futures = [future for _, future in sent if future is not None]
        if futures:
            await asyncio.wait(futures, timeout=PUBACK_SEC)
        for future in futures:
            future.cancel()  # one still without its PubAck: given up (a done one is left as is)
        for message, future in sent:
            if future is not None:
                if not future.cancelled() and future.exception() is None:
                    self.published += message.updates
                    continue
                raise_if_cancelling()
                log.warning("exec %s: no PubAck (%r)", message.msg_id, _why(future))
            await self._publish(message)

    async def _publish(self, message: _Message) -> None:
        """Until the server has it: a lost update would leave a worker's order working."""
        delay, longest = PUBLISH_RETRY_SEC
        while True:
            try:
                await self._js.publish(
                    message.subject, message.data, headers={"Nats-Msg-Id": message.msg_id}
                )
                self.published += message.updates
                return
            except (NatsError, TimeoutError) as exc:
                raise_if_cancelling()
                log.warning("exec publish %s failed, retrying: %r", message.subject, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest)


def _why(future: asyncio.Future[PubAck]) -> BaseException | str:
    """What became of a PubAck not had: its error, or none within PUBACK_SEC."""
    if not future.cancelled():
        return future.exception() or "none"
    return f"none within {PUBACK_SEC:g} s"
