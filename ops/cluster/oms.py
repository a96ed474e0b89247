"""The order manager of one account: the only process that talks to its broker.

It wraps the ordinary TradingService (journal, book, risk gate, broker, kill path, trading
state), with the engine in mark-only mode, and takes the account's intents from JetStream one at
a time (durable consumer, max_ack_pending=1, explicit acks). No duplicate order, ever:

- an intent already in this process's book was taken: nothing is sent again;
- an intent the journal has (an earlier process took it) is looked up at the broker by
  client_order_id: found, its state is published and nothing is sent; not found, it never
  reached the broker and goes the ordinary way;
- the ordinary way: risk gate, book (which journals the order), the journal COMMITTED, then the
  submit, awaited; the broker's client_order_id uniqueness is the last line.

Every order update the book applies (acks, fills, cancels, rejects), and each refusal of the
gate as a REJECTED update, goes out on exec.{account}.{strategy}.{SYM} with `update_msg_id` as
its message id; an intent is acknowledged only once its updates have their PubAck.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from ops.cluster.codec import CodecError, decode_intent, encode_update, update_msg_id
from ops.cluster.config import ClusterConfig
from ops.cluster.control import ControlView
from ops.cluster.lease import Lease
from ops.cluster.subjects import (
    ACCOUNT_ORDERS,
    INTENTS_STREAM,
    KILL_ORDERS,
    exec_subject,
    intent_filter,
    oms_consumer,
)
from ops.service import TradingService
from strategy.order_ids import order_prefix
from strategy.risk import Denial
from strategy.types import Intent, OrderRequest, OrderUpdate, TradingState

log = logging.getLogger(__name__)
FETCH_WAIT_SEC = 1.0
DRAIN_SEC = 5.0  # at a stop, for the updates not yet published
CONTROL = "control plane"
CONTROL_PAUSE = "paused from the control plane"
CONTROL_KILL = "(from the control plane)"  # ends the reason of a HALT a control-plane kill made
PUBLISH_RETRY_SEC = (0.05, 2.0)  # first wait, longest wait
JOURNALED = """
    select 'order' as kind, '' as rule, '' as reason from orders where client_order_id = ?
    union all
    select 'refusal', rule, reason from refusals where client_order_id = ?
"""


class OrderManager:
    def __init__(
        self,
        js: JetStreamContext,
        cfg: ClusterConfig,
        account: str,
        service: TradingService,
        lease: Lease,
    ) -> None:
        self._js = js
        self._cfg = cfg
        self.account = account
        self._service = service
        self._engine = service.engine
        self.lease = lease
        self._strategies: dict[str, str] = {}  # client_order_id -> strategy, while working
        self._outbox: asyncio.Queue[tuple[str, OrderUpdate]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.taken = 0  # intents acknowledged
        self.not_resent = 0  # redelivered intents found at the broker (nothing sent)
        self.published = 0
        self._engine.mark_only = True
        self._engine.events.update = self._on_update

    async def start(self) -> None:
        """Bind the intents consumer and start publishing, renewing and taking intents."""
        self._sub = await self._js.pull_subscribe(
            intent_filter(self.account),
            durable=oms_consumer(self.account),
            stream=INTENTS_STREAM,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                max_ack_pending=1,
                ack_wait=self._cfg.ack_wait_sec,
            ),
        )
        spawn = self._service.spawn
        self._tasks = [
            spawn("oms-intents", self._intents()),
            spawn("oms-publish", self._publish_loop()),
            spawn("oms-lease", self._keep_lease()),
        ]

    async def stop(self) -> None:
        """Stop taking intents at once (one in flight stays unacknowledged: redelivered to the
        next holder), then publishing and renewing; before the service stops."""
        intents, *others = self._tasks
        intents.cancel()
        await asyncio.gather(intents, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outbox.join(), DRAIN_SEC)
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _keep_lease(self) -> None:
        await self.lease.keep()
        if self.lease.lost.is_set():
            self._service.alert(
                f"lease:{self.account}",
                "critical",
                f"order manager of {self.account} lost its lease ({self.lease.lost_reason}): "
                "it takes no more intents and stops",
            )

    # -- intents ---------------------------------------------------------------------------

    async def _intents(self) -> None:
        """While it cannot prove its lease (a NATS outage longer than the TTL) it takes none:
        it waits to renew it, or for its loss to another holder."""
        while not self.lease.lost.is_set():
            if not self.lease.held:
                await self._until_lease_renewed()
                continue
            try:
                msgs = await self._sub.fetch(1, timeout=FETCH_WAIT_SEC)
            except NatsTimeoutError:
                continue
            for msg in msgs:
                if not self.lease.held:
                    break  # left unacknowledged: redelivered to whoever holds the lease
                await self._take(msg)

    async def _until_lease_renewed(self) -> None:
        key = f"lease:{self.account}"
        self._service.alert(
            key,
            "critical",
            f"order manager of {self.account} cannot prove it holds its lease (NATS not "
            "answering): it sends nothing until it renews it",
        )
        await self.lease.until_held()
        if self.lease.held:
            self._service.resolve(key, f"order manager of {self.account} renewed its lease")

    async def _take(self, msg: Msg) -> None:
        try:
            order, strategy = decode_intent(msg.data)
        except CodecError as exc:
            self._service.journal.record(
                "anomalies", {"kind": "bad_intent", "detail": f"{msg.subject}: {exc}"}
            )
            await msg.term()  # it will never decode: not redelivered
            return
        try:
            await self.handle(order, strategy)
            await self._outbox.join()  # its updates are on the exec stream first
            await msg.ack_sync()
        except Exception as exc:  # left unacknowledged: redelivered after ack_wait
            self._service.report_error("oms-intent", exc)
            return
        self.taken += 1

    async def handle(self, order: OrderRequest, strategy: str) -> None:
        """One intent, delivered for the first time or again: sent at most once, ever."""
        coid = order.client_order_id
        self._strategies[coid] = strategy
        if order.intent is Intent.FLATTEN:
            self._refuse(order, Denial("intent", "flatten orders are the kill's own"))
            return
        if self._engine.book.order(coid) is not None:
            log.info("intent %s again: already taken by this process", coid)
            return
        rows = await self._service.journal.aquery(JOURNALED, (coid, coid))
        if any(row["kind"] == "order" for row in rows):
            found = await self._service.broker.get_order(coid)
            if found is not None:
                self.not_resent += 1
                log.warning("intent %s again: the broker has it (%s), not sent", coid, found.status)
                self._outbox.put_nowait((strategy, found))
                return
            log.warning("intent %s: journaled, never reached the broker; sending it now", coid)
        elif rows:
            self._refuse(order, Denial(str(rows[0]["rule"]), str(rows[0]["reason"])))
            return
        await self._send(order)

    async def _send(self, order: OrderRequest) -> None:
        denial = self._engine.admit(order, bar_ts=order.created_ts)
        if denial is not None:
            self._refuse(order, denial)
            return
        unsent = None
        if not await self._service.journal.aflush():
            unsent = "not sent: the journal did not commit the order"
        elif not self.lease.held:
            unsent = "not sent: the order manager lost its lease"
        if unsent is not None:
            now = self._service.clock.now()
            self._engine.on_order_update(OrderUpdate.rejected(order, unsent, now))
            return
        await self._engine.submit(order)

    def _refuse(self, order: OrderRequest, denial: Denial) -> None:
        """A refusal never reaches the book; the worker learns it as a REJECTED update."""
        reason = f"refused by the order manager ({denial.rule}): {denial.reason}"
        self._on_update(OrderUpdate.rejected(order, reason, self._service.clock.now()))

    # -- executions ------------------------------------------------------------------------

    def _on_update(self, update: OrderUpdate) -> None:
        coid = update.client_order_id
        strategy = self._strategies.get(coid) or self._sender(coid) or self._account_token(coid)
        if update.status.is_final:
            self._strategies.pop(coid, None)
        self._outbox.put_nowait((strategy, update))

    def _sender(self, coid: str) -> str | None:
        """The strategy that sent an order an earlier process took (its intent is gone with
        that process's memory): workers prefix their ids with tb-{strategy}."""
        prefix = order_prefix(coid) or ""
        strategy = prefix.removeprefix("tb-")
        if strategy != prefix and self._cfg.strategies.get(strategy) == self.account:
            return strategy
        return None

    def _account_token(self, coid: str) -> str:
        """No intent asked for this order: the kill's own (a flatten order, or anything traded
        while HALTED: a close-all's fill may come before the book knows the order) or another
        of the account's (placed by hand)."""
        order = self._engine.book.order(coid)
        if self._service.gate.state is TradingState.HALTED or (
            order is not None and order.request.intent is Intent.FLATTEN
        ):
            return KILL_ORDERS
        return ACCOUNT_ORDERS

    async def _publish_loop(self) -> None:
        while True:
            strategy, update = await self._outbox.get()
            try:
                await self._publish(strategy, update)
            finally:
                self._outbox.task_done()

    async def _publish(self, strategy: str, update: OrderUpdate) -> None:
        """Until the server has it: a lost update would leave a worker's order working."""
        subject = exec_subject(self.account, strategy, update.symbol)
        headers = {"Nats-Msg-Id": update_msg_id(update)}
        delay, longest = PUBLISH_RETRY_SEC
        while True:
            try:
                await self._js.publish(subject, encode_update(update), headers=headers)
                self.published += 1
                return
            except (NatsError, TimeoutError) as exc:
                log.warning("exec publish %s failed, retrying: %r", subject, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest)

    # -- control ---------------------------------------------------------------------------

    async def obey(self, view: ControlView) -> bool:
        """The control plane's orders in force for this account; True once applied (the caller
        acknowledges them). A kill takes the service's kill path: HALTED at once, then cancel,
        flatten, verify flat. A lifted kill resumes, through the kill switch's resume path, only
        a HALT a control-plane kill made (not the kill file's, not a person's), once any kill
        running has ended; refused there (the kill file exists), it stays HALTED and
        unacknowledged. A pause moves ACTIVE to PAUSED; its withdrawal moves back only a pause
        the control plane made."""
        service = self._service
        killed, paused = view.killed, view.paused
        if killed is not None:
            if service.gate.state is not TradingState.HALTED:
                reason = f"kill by {killed.requester} {CONTROL_KILL}"
                service.kill_switch.request(killed.requester, CONTROL, reason=reason)
            return True
        if self._halted_by_control():
            await service.kill_switch.settled()
            lifted_by = _lifted_by(view)
            result = await service.kill_switch.resume(lifted_by, CONTROL)
            if service.gate.state is TradingState.HALTED:
                log.warning("kill lifted by %s, not resumed: %s", lifted_by, result)
                return False
        state = service.gate.state
        if paused is not None and state is TradingState.ACTIVE:
            service.set_state(TradingState.PAUSED, CONTROL_PAUSE, paused.requester)
        elif paused is None and self._paused_by_control():
            service.set_state(TradingState.ACTIVE, "pause withdrawn", CONTROL)
        return True

    def _paused_by_control(self) -> bool:
        """PAUSED by the control plane, in this process or restored from the journal."""
        gate = self._service.gate
        return gate.state is TradingState.PAUSED and gate.state_reason.endswith(CONTROL_PAUSE)

    def _halted_by_control(self) -> bool:
        """HALTED by a control-plane kill, in this process or restored from the journal."""
        gate = self._service.gate
        return gate.state is TradingState.HALTED and gate.state_reason.endswith(CONTROL_KILL)


def _lifted_by(view: ControlView) -> str:
    lifts = [o for o in view.orders if o.kind == "kill" and not o.active]
    return max(lifts, key=lambda o: o.revision).requester if lifts else CONTROL
