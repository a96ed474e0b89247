"""The order manager of one account: the only process that talks to its broker.

It is given the parts of the ordinary TradingService it uses (journal, book, engine, broker,
kill switch, trading state: AccountParts), the engine in mark-only mode, and takes the
account's intents from JetStream as they were fetched, up to INTENT_BATCH at once (durable
consumer, explicit acks): each one checked and admitted in turn, the admitted ones committed to
the journal together and then sent, one at a time; their updates published; then each intent
acknowledged. No duplicate order, ever:

- an intent already in this process's book was taken: nothing is sent again;
- an intent the journal has (an earlier process took it) is looked up at the broker by
  client_order_id: found, its state is published and nothing is sent; not found, it never
  reached the broker and goes the ordinary way;
- an intent this process has not seen that may have reached the broker all the same (a
  redelivery, or one of the first fetch after acquiring the lease: a predecessor, with its own
  journal, may have sent it) is looked up too: found, it is taken into the book and journal as
  the order it is, published, and nothing is sent;
- the ordinary way: risk gate, book (which journals the order), the journal COMMITTED, then the
  submit, awaited; the broker's client_order_id uniqueness is the last line. An intent left
  unacknowledged (a stop, a crash, a lease not proven) comes back as a redelivery.

One sender per account: the broker asks, in the thread that sends and immediately before each
request that changes the account goes out (every order, cancel, and the kill's cancel-all and
close-all), whether the lease is provably still ours (Lease.held, by the monotonic clock); if
not, nothing is sent and an incident says so.

Every order update the book applies (acks, fills, cancels, rejects), and each refusal of the
gate as a REJECTED update, goes out on exec.{account}.{strategy}.{SYM} with `update_msg_id` as
its message id, or with the other updates of its round in one message (ExecPublisher); an
intent is acknowledged only once its updates have their PubAck.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from ops.cluster.account_parts import AccountParts
from ops.cluster.codec import CodecError, decode_intent
from ops.cluster.config import ClusterConfig
from ops.cluster.durables import ensure_durable
from ops.cluster.exec_publisher import ExecPublisher
from ops.cluster.lease import Lease
from ops.cluster.oms_control import ControlObedience
from ops.cluster.pull import fetch_or_nothing
from ops.cluster.subjects import (
    ACCOUNT_ORDERS,
    INTENTS_STREAM,
    KILL_ORDERS,
    intent_filter,
    oms_consumer,
)
from strategy.order_ids import order_prefix
from strategy.risk import Denial
from strategy.types import Intent, OrderRequest, OrderUpdate, TradingState

log = logging.getLogger(__name__)
FETCH_WAIT_SEC = 1.0
INTENT_BATCH = 64  # its sends at Alpaca's pacing (200 a minute) take < 20 s: inside ack_wait (30)
DRAIN_SEC = 5.0  # at a stop, for the updates not yet published
JOURNALED = """
    select client_order_id, 'order' as kind, '' as rule, '' as reason from orders
    where client_order_id in ({ids})
    union all
    select client_order_id, 'refusal', rule, reason from refusals where client_order_id in ({ids})
"""


class OrderManager:
    def __init__(
        self,
        js: JetStreamContext,
        cfg: ClusterConfig,
        account: str,
        parts: AccountParts,
        lease: Lease,
    ) -> None:
        self._js = js
        self._cfg = cfg
        self.account = account
        self._intake, self._ledger = parts.intake, parts.ledger
        self._trading, self._broker, self._journal = parts.trading, parts.broker, parts.journal
        self._incidents, self._clock, self._spawn = parts.incidents, parts.clock, parts.spawn
        self.lease = lease
        self._strategies: dict[str, str] = {}  # client_order_id -> strategy, while working
        self._exec = ExecPublisher(js, account)
        self._tasks: list[asyncio.Task[None]] = []
        self.taken = 0  # intents acknowledged
        self.not_resent = 0  # redelivered intents found at the broker (nothing sent)
        self._loop = asyncio.get_running_loop()
        parts.announce_updates(self._on_update)
        self._control = ControlObedience(parts.trading, parts.kill_switch, parts.incidents)
        self.obey = self._control.obey
        parts.broker.guard_writes(self._write_refusal)

    async def start(self) -> None:
        """Bind the intents consumer and start publishing, watching the lease (renewed since it
        was taken) and taking intents."""
        durable, subject = oms_consumer(self.account), intent_filter(self.account)
        want = ConsumerConfig(
            filter_subject=subject,
            ack_policy=AckPolicy.EXPLICIT,
            max_ack_pending=INTENT_BATCH,
            ack_wait=self._cfg.ack_wait_sec,
        )
        again = "an intent delivered again is found at the broker by its client_order_id"
        await ensure_durable(self._js, INTENTS_STREAM, durable, want, again)
        want.deliver_policy = DeliverPolicy.ALL
        self._sub = await self._js.pull_subscribe(
            subject, durable=durable, stream=INTENTS_STREAM, config=want
        )
        spawn = self._spawn
        self._tasks = [
            spawn("oms-intents", self._intents()),
            spawn("oms-publish", self._exec.run()),
            spawn("oms-lease", self._watch_lease()),
        ]

    async def stop(self) -> None:
        """Stop taking intents at once (those in flight stay unacknowledged: redelivered to the
        next holder), then publishing; before the service stops (the lease is renewed until its
        release, after the service)."""
        intents, *others = self._tasks
        intents.cancel()
        await asyncio.gather(intents, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._exec.drained(), DRAIN_SEC)
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _watch_lease(self) -> None:
        await self.lease.lost.wait()
        self._incidents.alert(
            self._lease_incident,
            "critical",
            f"order manager of {self.account} lost its lease ({self.lease.lost_reason}): "
            "it takes no more intents and stops",
        )

    @property
    def published(self) -> int:
        return self._exec.published

    @property
    def _lease_incident(self) -> str:
        return f"lease:{self.account}"

    def _write_refusal(self) -> str | None:
        """Asked by the broker immediately before a request that changes the account goes out
        (after the engine's check of an order), in the thread that sends, after the wait for
        the rate limit and for a free thread."""
        unproven = self.lease.unproven()
        if unproven is None:
            return None
        self._loop.call_soon_threadsafe(self._lease_unproven)
        return f"not sent: the order manager cannot prove it still holds its lease: {unproven}"

    def _lease_unproven(self) -> None:
        if self.lease.lost.is_set():
            return  # the lost lease's own incident says it
        self._incidents.alert(
            self._lease_incident,
            "critical",
            f"order manager of {self.account} cannot prove it still holds its lease: it sends "
            "nothing until a renewal succeeds (or another order manager has the account)",
        )

    # -- intents ---------------------------------------------------------------------------

    async def _intents(self) -> None:
        lease = self.lease
        while not lease.lost.is_set():
            if not lease.held:
                self._lease_unproven()
                await lease.proven()
                continue
            self._incidents.resolve(self._lease_incident, "lease renewed: sending again")
            msgs = await fetch_or_nothing(self._sub, INTENT_BATCH, FETCH_WAIT_SEC)
            if msgs:
                await self._take(msgs)

    async def _take(self, msgs: list[Msg]) -> None:
        """One fetch, as the module says. An intent that fails (or every one, when the sends
        fail) is left unacknowledged: redelivered after ack_wait."""
        intents = []
        for msg in msgs:
            try:
                order, strategy = decode_intent(msg.data)
            except CodecError as exc:
                self._journal.record(
                    "anomalies", {"kind": "bad_intent", "detail": f"{msg.subject}: {exc}"}
                )
                await msg.term()  # it will never decode: not redelivered
                continue
            intents.append((msg, order, strategy))
        try:
            journaled = await self._journaled([order.client_order_id for _, order, _ in intents])
        except Exception as exc:
            self._incidents.report_error("oms-intent", exc)
            return
        taken, admitted = [], []
        for msg, order, strategy in intents:
            if not self.lease.held:
                break  # left unacknowledged: redelivered to whoever holds the lease
            rows = journaled.get(order.client_order_id, [])
            try:
                if await self._check(order, strategy, rows, self._may_be_elsewhere(msg)):
                    admitted.append(order)
            except Exception as exc:
                self._incidents.report_error("oms-intent", exc)
                continue
            taken.append(msg)
        try:
            await self._send(admitted)
            await self._exec.drained()  # their updates are on the exec stream first
            for msg in taken:
                await msg.ack()
                self.taken += 1
        except Exception as exc:
            self._incidents.report_error("oms-intent", exc)

    async def _journaled(self, coids: list[str]) -> dict[str, list[dict[str, object]]]:
        """What the journal has of these intents (orders, refusals), by client_order_id."""
        if not coids:
            return {}
        ids = ",".join("?" * len(coids))
        rows = await self._journal.aquery(JOURNALED.format(ids=ids), (*coids, *coids))
        found: dict[str, list[dict[str, object]]] = {}
        for row in rows:
            found.setdefault(str(row["client_order_id"]), []).append(row)
        return found

    def _may_be_elsewhere(self, msg: Msg) -> bool:
        """A redelivery, or an intent of the first fetch since this process took the lease:
        another order manager may have sent it before it died."""
        return self.taken == 0 or msg.metadata.num_delivered > 1

    async def _check(
        self, order: OrderRequest, strategy: str, rows: list[dict[str, object]], unseen: bool
    ) -> bool:
        """One intent, delivered for the first time or again: True once the book holds it to
        send (the risk gate admitted it), so that it is sent at most once, ever. `rows`: what
        the journal has of it; `unseen`: it may have reached the broker through another
        process (see the module)."""
        coid = order.client_order_id
        self._strategies[coid] = strategy
        if order.intent is Intent.FLATTEN:
            self._refuse(order, Denial("intent", "flatten orders are the kill's own"))
            return False
        if self._ledger.order(coid) is not None:
            log.info("intent %s again: already taken by this process", coid)
            return False
        if any(row["kind"] == "order" for row in rows):
            found = await self._broker.get_order(coid)
            if found is not None:
                self.not_resent += 1
                log.warning("intent %s again: the broker has it (%s), not sent", coid, found.status)
                self._exec.put(strategy, found)
                return False
            log.warning("intent %s: journaled, never reached the broker; sending it now", coid)
        elif rows:
            self._refuse(order, Denial(str(rows[0]["rule"]), str(rows[0]["reason"])))
            return False
        elif unseen:
            found = await self._broker.get_order(coid)
            if found is not None:
                self.not_resent += 1
                log.warning("intent %s: a predecessor sent it (%s), not sent", coid, found.status)
                self._ledger.track(order, found)  # journals it as the order it is
                self._exec.put(strategy, found)
                return False
        denial = self._intake.admit(order, bar_ts=order.created_ts)
        if denial is not None:
            self._refuse(order, denial)
            return False
        return True

    async def _send(self, orders: list[OrderRequest]) -> None:
        """Orders the book holds: sent once the journal committed them, one at a time."""
        if not orders:
            return
        if not await self._journal.aflush():
            unsent = "not sent: the journal did not commit the order"
            now = self._clock.now()
            for order in orders:
                self._intake.on_order_update(OrderUpdate.rejected(order, unsent, now))
            return
        for order in orders:
            await self._intake.submit(order)  # the lease is checked at the send (_write_refusal)

    def _refuse(self, order: OrderRequest, denial: Denial) -> None:
        """A refusal never reaches the book; the worker learns it as a REJECTED update."""
        reason = f"refused by the order manager ({denial.rule}): {denial.reason}"
        self._on_update(OrderUpdate.rejected(order, reason, self._clock.now()))

    # -- executions ------------------------------------------------------------------------

    def _on_update(self, update: OrderUpdate) -> None:
        coid = update.client_order_id
        strategy = self._strategies.get(coid) or self._sender(coid) or self._account_token(coid)
        if update.status.is_final:
            self._strategies.pop(coid, None)
        self._exec.put(strategy, update)

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
        order = self._ledger.order(coid)
        if self._trading.state is TradingState.HALTED or (
            order is not None and order.request.intent is Intent.FLATTEN
        ):
            return KILL_ORDERS
        return ACCOUNT_ORDERS
