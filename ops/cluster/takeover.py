"""What an order manager's predecessor left in flight, learned before start-up recovery.

A predecessor that died (SIGKILL, a lost host) may have sent an intent to the broker without
acknowledging it; that intent is still pending on the account's consumer, and is redelivered to
whoever holds the lease next. The new holder may have its own journal (another host), which never
saw the order: recovery would then take the shares it filled for the operator's ("the journal
never saw", a critical incident) and the redelivered intent would be sent again. So before
recovery each pending intent the journal lacks is looked up at the broker by client_order_id;
found, its order is journaled as the order it is, and recovery then treats it like any order of
this journal that finished (or still works) while no one was watching. The redelivered intent
then finds it in the journal and at the broker, and nothing is sent.
"""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from ops.cluster.codec import CodecError, decode_intent
from ops.cluster.subjects import INTENTS_STREAM, intent_filter, oms_consumer
from ops.journal.access import JournalAccess
from strategy.book_records import order_row
from strategy.venue import Broker

log = logging.getLogger(__name__)
JOURNALED_ORDER = "select 1 from orders where client_order_id = ? limit 1"


async def journal_in_flight(
    js: JetStreamContext, account: str, journal: JournalAccess, broker: Broker
) -> int:
    """Journal the orders of the account's unacknowledged intents that reached the broker; how
    many were."""
    try:
        info = await js.consumer_info(INTENTS_STREAM, oms_consumer(account))
    except NotFoundError:
        return 0  # the account's first order manager
    if not info.num_ack_pending or info.ack_floor is None or info.delivered is None:
        return 0
    prefix = intent_filter(account).removesuffix(">")
    journaled = 0
    for seq in range(info.ack_floor.stream_seq + 1, info.delivered.stream_seq + 1):
        try:
            msg = await js.get_msg(INTENTS_STREAM, seq)
        except NotFoundError:
            continue
        if not (msg.subject or "").startswith(prefix):
            continue  # another account's
        try:
            order, _strategy = decode_intent(msg.data or b"")
        except CodecError:
            continue  # the consumer terminates it
        coid = order.client_order_id
        if await journal.aquery(JOURNALED_ORDER, (coid,)):
            continue
        if await broker.get_order(coid) is None:
            continue  # it never reached the broker: the redelivery sends it
        log.warning("intent %s: a predecessor sent it; journaled before recovery", coid)
        journal.record("orders", order_row(order))
        journaled += 1
    if journaled:
        await journal.aflush()
    return journaled
