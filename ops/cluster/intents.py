"""The worker's broker: an order the engine sends is PUBLISHED as an intent for the account's
order manager, with its deterministic client_order_id as message id, and `submit` returns only
once the server has stored it (its PubAck).

The engine uses subscribe, guard and submit; the rest of the Broker protocol (cancel, close-all,
positions...) is the order manager's, which alone talks to the broker.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

import nats.errors
from nats.js import JetStreamContext

from ops.cluster.cancelling import raise_if_cancelling
from ops.cluster.codec import encode_intent
from ops.cluster.subjects import INTENTS_STREAM, intent_subject
from strategy.clock import Clock
from strategy.types import OrderRequest, OrderStatus, OrderUpdate
from strategy.venue import OrderListener, SendCheck, SendRefused

log = logging.getLogger(__name__)
NOT_SENT_BEFORE = "replay: this decision was not sent before the restart"
# How long a sent id is remembered (in the decisions' own time): a bar is decided again only
# when it is redelivered or replayed after a restart, both within hours of its first time.
REMEMBER_SEC = 86_400.0


class IntentBroker:
    name = "intents"

    def __init__(
        self,
        js: JetStreamContext,
        account: str,
        strategy: str,
        clock: Clock,
        timeout_sec: float = 5.0,
        retry_sec: float = 0.5,
    ) -> None:
        self._js = js
        self._account = account
        self._strategy = strategy
        self._clock = clock
        self._timeout = timeout_sec
        self._retry = retry_sec
        self._check: SendCheck | None = None
        # client_order_id -> decided at, the recent ones, oldest first (O(1) to drop the oldest)
        self.sent: OrderedDict[str, float] = OrderedDict()
        self.replaying = False  # rebuilding state after a restart: publish nothing
        self.published = 0
        self.resent = 0  # decided again after a restart (a redelivered bar): not published
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def subscribe(self, listener: OrderListener) -> None:
        """Order updates reach the engine from the EXEC stream, not from here."""

    def guard(self, check: SendCheck) -> None:
        self._check = check

    async def submit(self, order: OrderRequest) -> OrderUpdate:
        """NEW once the intent is stored. During a replay, an order sent before the restart is
        acknowledged again without a publish and any other is refused: the bars before the ack
        floor were handled already, so a decision that differs now is not sent late."""
        refusal = self._check(order) if self._check is not None else None
        if refusal is not None:
            raise SendRefused(refusal)
        coid = order.client_order_id
        if coid in self.sent:
            if not self.replaying:
                self.resent += 1
        elif self.replaying:
            raise SendRefused(NOT_SENT_BEFORE)
        else:
            await self._publish(order)
            self.remember(coid, order.created_ts)
            self.published += 1
        return OrderUpdate(
            client_order_id=coid,
            symbol=order.symbol,
            status=OrderStatus.NEW,
            filled_qty=0,
            filled_avg_price=None,
            ts=self._clock.now(),
            side=order.side,
            qty=order.qty,
        )

    def remember(self, coid: str, decided_ts: float) -> None:
        """Sent (now, or before a restart); ids decided over REMEMBER_SEC before the newest are
        forgotten, so a worker running for months keeps a day of them."""
        self.sent[coid] = decided_ts
        horizon = decided_ts - REMEMBER_SEC
        while self.sent:
            oldest = next(iter(self.sent))  # an OrderedDict's first key: its linked list's head
            if self.sent[oldest] >= horizon:
                return
            del self.sent[oldest]

    async def settled(self) -> None:
        """Every intent being published has its PubAck."""
        await self._idle.wait()

    async def _publish(self, order: OrderRequest) -> None:
        """Until the server answers: a re-publish under the same message id is dropped by the
        server, so retrying is safe, and the bar is not acked meanwhile."""
        self._in_flight += 1
        self._idle.clear()
        try:
            await self._publish_until_stored(order)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _publish_until_stored(self, order: OrderRequest) -> None:
        subject = intent_subject(self._account, self._strategy, order.symbol)
        data = encode_intent(order, self._strategy)
        headers = {"Nats-Msg-Id": order.client_order_id}
        while True:
            try:
                await self._js.publish(
                    subject, data, timeout=self._timeout, stream=INTENTS_STREAM, headers=headers
                )
                return
            except (TimeoutError, nats.errors.Error) as exc:
                raise_if_cancelling()
                log.warning("intent %s: no PubAck (%r); again", order.client_order_id, exc)
                await asyncio.sleep(self._retry)
