"""A role process's incidents on the INCIDENTS stream, for the gateway to post in Slack.

`IncidentPublisher` is an AlertSink (ops/service/incidents.py): every raise, resolve, notice and
acknowledgement of the process, and each kill outcome (FLAT after N s / NOT FLAT ...) with the
control-plane kill it answers, goes out as one JSON event on
`incident.{account or role}.{role}.{name}`, message id = the event's id (a retried publish is
stored once). Publishing never blocks or breaks trading: the sink only queues (bounded: when
full the oldest event is dropped, counted and said in the log; the journal has every incident)
and one task publishes, retrying with a backoff while NATS is slow or down.

An Acknowledge clicked in Slack comes back by request-reply on `incident_ack_subject(role.name)`
and goes to the process's own acknowledge (journaled), which publishes the ack event in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError

from ops.cluster.control import ControlView
from ops.cluster.subjects import component_key, incident_ack_subject, incident_subject

log = logging.getLogger(__name__)
MAX_PENDING = 1_000
PUBLISH_TIMEOUT_SEC = 2.0
DRAIN_SEC = 2.0
RETRY_SEC = (0.1, 5.0)  # first wait, longest wait
KINDS = frozenset({"raise", "resolve", "notice", "ack", "kill"})
Spawn = Callable[[str, Coroutine[Any, Any, Any]], asyncio.Task[Any]]
Acknowledge = Callable[[str, str], bool]  # (key, user) -> False when not open


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """One update of one process's incidents, as it crosses the wire."""

    id: str
    kind: str  # raise | resolve | notice | ack | kill
    role: str
    name: str
    account: str | None
    key: str = ""
    severity: str = "info"
    message: str = ""
    user: str = ""  # who acknowledged (ack)
    control_key: str = ""  # kill: the control-plane kill it answers (kill.global, kill.main)
    control_revision: int = 0
    flat: bool = False
    ts: float = 0.0

    @property
    def process(self) -> str:
        return component_key(self.role, self.name)

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode()


def decode_event(data: bytes) -> IncidentEvent:
    """ValueError when it is not an incident event (the gateway drops it, saying so)."""
    try:
        body = json.loads(data)
        event = IncidentEvent(**body)
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not an incident event: {exc}") from None
    if event.kind not in KINDS:
        raise ValueError(f"unknown incident event kind {event.kind!r}")
    return event


class IncidentPublisher:
    """Implements ops.service.incidents.AlertSink on the INCIDENTS stream (see the module
    docstring)."""

    def __init__(
        self,
        nc: Client,
        role: str,
        name: str,
        account: str | None,
        acknowledge: Acknowledge | None = None,
        max_pending: int = MAX_PENDING,
    ) -> None:
        """`acknowledge`: the process's own (the service's, which journals it); without one
        (ingest), an Acknowledge of an open incident is taken here and published."""
        self._nc = nc
        self._js = nc.jetstream()
        self.role, self.name, self.account = role, name, account
        self._acknowledge = acknowledge or self._acknowledge_here
        self._open: set[str] = set()  # keys raised and not resolved, for _acknowledge_here
        self._subject = incident_subject(account or role, role, name)
        self._queue: deque[IncidentEvent] = deque()
        self._max_pending = max_pending
        self._wakeup = asyncio.Event()
        self._empty = asyncio.Event()
        self._kill: tuple[str, int] = ("", 0)  # the control-plane kill in force, if any
        self._acks: Subscription | None = None
        self._task: asyncio.Task[None] | None = None  # when it made its own
        self.published = 0
        self.dropped = 0

    # -- AlertSink -------------------------------------------------------------------------

    def raise_alert(self, key: str, severity: str, message: str) -> None:
        self._open.add(key)
        self._put("raise", key=key, severity=severity, message=message)

    def resolve_alert(self, key: str, message: str) -> None:
        self._open.discard(key)
        self._put("resolve", key=key, message=message)

    def notice(self, message: str) -> None:
        self._put("notice", message=message)

    def acknowledge(self, key: str, user: str) -> None:
        self._put("ack", key=key, user=user)

    def report(self, key: str, severity: str, message: str) -> None:
        """For a role without a service (which would log and journal it): log, then raise."""
        log.warning("ALERT [%s] %s: %s", severity, key, message)
        self.raise_alert(key, severity, message)

    def recovered(self, key: str, message: str) -> None:
        log.info("RESOLVED %s: %s", key, message)
        self.resolve_alert(key, message)

    # -- kills -----------------------------------------------------------------------------

    def follow_control(self, view: ControlView) -> None:
        """The control-plane kill in force, named in the kill outcomes that follow it."""
        killed = view.killed
        self._kill = (killed.key, killed.revision) if killed is not None else ("", 0)

    def kill_outcome(self, text: str, flat: bool) -> None:
        """A kill's outcome, for the thread where that kill was confirmed."""
        key, revision = self._kill
        self._put(
            "kill",
            key="kill",
            severity="info" if flat else "critical",
            message=text,
            control_key=key,
            control_revision=revision,
            flat=flat,
        )

    # -- the queue and its publisher -------------------------------------------------------

    def _put(self, kind: str, **fields: Any) -> None:
        if len(self._queue) >= self._max_pending:
            lost = self._queue.popleft()
            self.dropped += 1
            log.warning(
                "incident queue full (%d): %s %s not published (%d dropped so far; the "
                "journal has it)",
                self._max_pending,
                lost.kind,
                lost.key or lost.message[:60],
                self.dropped,
            )
        event = IncidentEvent(
            uuid.uuid4().hex, kind, self.role, self.name, self.account, ts=time.time(), **fields
        )
        self._queue.append(event)
        self._empty.clear()
        self._wakeup.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def start(self, spawn: Spawn | None = None) -> None:
        """Answer Acknowledge requests and publish in a task of `spawn` (the caller's, e.g.
        the service's: cancelled with its other tasks), or else of its own."""
        self._acks = await self._nc.subscribe(
            incident_ack_subject(component_key(self.role, self.name)), cb=self._on_ack
        )
        if spawn is not None:
            spawn("incidents-publish", self._run())
        else:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="incidents-publish"
            )

    def _acknowledge_here(self, key: str, user: str) -> bool:
        if key not in self._open:
            return False
        log.info("ACKNOWLEDGED %s by %s", key, user)
        self.acknowledge(key, user)
        return True

    async def _on_ack(self, msg: Msg) -> None:
        try:
            body = json.loads(msg.data)
            key, user = str(body["key"]), str(body["user"])
        except (ValueError, KeyError, TypeError):
            await msg.respond(json.dumps({"ok": False, "error": "not an acknowledgement"}).encode())
            return
        if self._acknowledge(key, user):
            reply = {"ok": True}
        else:
            reply = {"ok": False, "error": f"{key} is not open in {self.role}.{self.name}"}
        await msg.respond(json.dumps(reply).encode())

    async def _run(self) -> None:
        delay, longest = RETRY_SEC
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            event = self._queue[0]
            try:
                await self._js.publish(
                    self._subject,
                    event.encode(),
                    timeout=PUBLISH_TIMEOUT_SEC,
                    headers={"Nats-Msg-Id": event.id},
                )
            except (NatsError, TimeoutError) as exc:
                log.warning(
                    "incident %s %s not published yet (%r); retrying in %gs (%d queued)",
                    event.kind,
                    event.key,
                    exc,
                    delay,
                    len(self._queue),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest)
                continue
            delay = RETRY_SEC[0]
            if self._queue and self._queue[0] is event:  # not dropped meanwhile
                self._queue.popleft()
            self.published += 1
            if not self._queue:
                self._empty.set()

    async def stop(self, within_sec: float = DRAIN_SEC) -> None:
        """At a stop: what is queued gets a moment to go out (what does not is said), then
        no more is published."""
        if self._acks is not None:
            await self._acks.unsubscribe()
            self._acks = None
        if self._queue:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._empty.wait(), within_sec)
        if self._queue:
            log.warning("%d incident update(s) not published at the stop", len(self._queue))
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
