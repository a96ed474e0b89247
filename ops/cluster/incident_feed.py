"""The gateway's side of the INCIDENTS stream: one durable consumer, so a gateway restarted (or
started late) gets every event published while it was away, in order, from its ack floor."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from ops.cluster.config import ClusterConfig
from ops.cluster.durables import ensure_durable
from ops.cluster.incidents import IncidentEvent, decode_event
from ops.cluster.pull import fetch_or_nothing
from ops.cluster.subjects import GATEWAY_INCIDENTS, INCIDENTS_STREAM, incident_ack_subject

log = logging.getLogger(__name__)
FETCH_WAIT_SEC = 1.0
BATCH = 50
ACK_WITHIN_SEC = 5.0
ALL_INCIDENTS = "incident.>"
EVENT_AGAIN = "an event delivered but not acknowledged comes again, as after a gateway restart"

Handle = Callable[[IncidentEvent], Awaitable[None]]


async def follow_incidents(nc: Client, cfg: ClusterConfig, handle: Handle) -> None:
    """Hand each event to `handle`, then acknowledge it; runs until cancelled. An event that
    does not decode is said in the log and not delivered again."""
    js = nc.jetstream()
    want = ConsumerConfig(
        filter_subject=ALL_INCIDENTS, ack_policy=AckPolicy.EXPLICIT, ack_wait=cfg.ack_wait_sec
    )
    await ensure_durable(js, INCIDENTS_STREAM, GATEWAY_INCIDENTS, want, EVENT_AGAIN)
    want.deliver_policy = DeliverPolicy.ALL
    sub = await js.pull_subscribe(
        ALL_INCIDENTS, durable=GATEWAY_INCIDENTS, stream=INCIDENTS_STREAM, config=want
    )
    while True:
        for msg in await fetch_or_nothing(sub, BATCH, FETCH_WAIT_SEC):
            try:
                event = decode_event(msg.data)
            except ValueError as exc:
                log.warning("incident event on %s dropped: %s", msg.subject, exc)
                await msg.term()
                continue
            await handle(event)
            await msg.ack()


async def ask_acknowledge(nc: Client, process: str, key: str, user: str) -> str | None:
    """An Acknowledge clicked in Slack, to the process that owns the incident: None when it
    took it, else why not (it answers, or it is not running)."""
    request = json.dumps({"key": key, "user": user}).encode()
    try:
        reply = await nc.request(incident_ack_subject(process), request, ACK_WITHIN_SEC)
    except NoRespondersError:
        return f"{process} is not running: nothing was acknowledged"
    except NatsTimeoutError:
        return f"{process} did not answer within {ACK_WITHIN_SEC:g}s: try again"
    body = json.loads(reply.data)
    return None if body.get("ok") else str(body.get("error", "refused"))
