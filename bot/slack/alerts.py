"""Incidents as Slack threads: one root message per key, repeats in its thread (flood
controlled), resolution edits the root. Posting is queued: a Slack outage delays alerts and
never blocks trading. The queue is bounded (`max_pending`); when full, the update dropped is,
in order: an older queued update of the same incident (the newer says more), the oldest
notice, the oldest update of any incident. Drops are counted (`dropped`), logged, and told in
the channel by one queued drop report once Slack takes posts again; every alert stays in the
journal."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.slack.blocks import escape
from ops.reconcile import INCIDENT_PREFIX as RECONCILE_PREFIX

log = logging.getLogger(__name__)
ICONS = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}
MAX_BACKOFF_SEC = 30.0
MAX_PENDING = 1_000
DROPPED = (
    "{count} alert update(s) were not posted while Slack was unreachable (the queue keeps "
    "{limit}, newest per incident); the journal's alerts table has every one"
)


@dataclass(slots=True)
class Incident:
    key: str
    severity: str
    message: str
    root_ts: str | None = None
    last_reply: float = 0.0
    suppressed: int = 0
    resolved: bool = False
    acknowledged_by: str | None = None


@dataclass(frozen=True, slots=True)
class _Event:
    kind: str  # "raise" | "resolve" | "notice" | "ack" | "dropped"
    key: str
    severity: str
    message: str


class AlertPoster:
    """Implements ops.service.AlertSink for a Slack channel."""

    def __init__(
        self,
        client: Any,
        channel: str,
        min_reply_interval: float = 60.0,
        now: Callable[[], float] = time.monotonic,
        on_root: Callable[[str, str, str], None] = lambda key, channel, ts: None,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._client = client
        self._channel = channel
        self._interval = min_reply_interval
        self._now = now
        self._on_root = on_root  # (key, channel, ts) of each new root: kept across restarts
        self._queue: deque[_Event] = deque()
        self._max_pending = max_pending
        self._wakeup = asyncio.Event()
        self.incidents: dict[str, Incident] = {}
        self.dropped = 0  # updates dropped because the queue was full, ever
        self._unreported = 0  # of those, not yet told in the channel

    @property
    def pending(self) -> int:
        return len(self._queue)

    def raise_alert(self, key: str, severity: str, message: str) -> None:
        self._enqueue(_Event("raise", key, severity, message))

    def resolve_alert(self, key: str, message: str) -> None:
        self._enqueue(_Event("resolve", key, "info", message))

    def _enqueue(self, event: _Event) -> None:
        if len(self._queue) >= self._max_pending:
            self._drop_one(event.key)
        self._queue.append(event)
        self._wakeup.set()

    def _drop_one(self, key: str) -> None:
        """Make room by the stated policy; the head (being delivered) and the drop report
        itself are never dropped."""
        queued = list(self._queue)[1:]
        candidates = [e for e in queued if e.kind != "dropped"]
        victim = next((e for e in candidates if key and e.key == key and e.kind == "raise"), None)
        victim = victim or next((e for e in candidates if e.kind == "notice"), None)
        victim = victim or next(iter(candidates), None)
        if victim is None:
            return
        self._queue.remove(victim)
        self.dropped += 1
        self._unreported += 1
        if self._unreported == 1:
            log.warning("alert queue full (%d): dropping updates", self._max_pending)
            self._queue.append(_Event("dropped", "", "warning", ""))

    def resume(self, key: str, severity: str, message: str, root_ts: str) -> None:
        """An incident still open from before a restart: later updates go to its old thread."""
        self.incidents[key] = Incident(key, severity, message, root_ts, self._now())

    @property
    def channel(self) -> str:
        return self._channel

    def acknowledge(self, key: str, user: str) -> None:
        self._enqueue(_Event("ack", key, "info", user))

    def notice(self, message: str) -> None:
        self._enqueue(_Event("notice", "", "info", message))

    async def run(self) -> None:
        """Deliver queued events in order; on a Slack failure, back off and retry the same one."""
        backoff = 1.0
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            event = self._queue[0]
            try:
                await self._deliver(event)
            except Exception as exc:
                log.warning(
                    "alert %s not delivered (%s); retrying in %.0fs", event.key, exc, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SEC)
                continue
            backoff = 1.0
            self._queue.popleft()

    async def _deliver(self, event: _Event) -> None:
        if event.kind == "dropped":
            told = self._unreported
            text = DROPPED.format(count=told, limit=self._max_pending)
            await self._client.chat_postMessage(channel=self._channel, text=f":warning: {text}")
            self._unreported -= told
            if self._unreported:  # dropped while this report was being posted
                self._queue.append(_Event("dropped", "", "warning", ""))
            return
        if event.kind == "notice":
            await self._client.chat_postMessage(channel=self._channel, text=escape(event.message))
            return
        incident = self.incidents.get(event.key)
        if event.kind == "resolve":
            if incident is not None and not incident.resolved:
                await self._resolve(incident, event.message)
            return
        if event.kind == "ack":
            if incident is not None and not incident.resolved:
                await self._acknowledge(incident, user=event.message)
            return
        if incident is None or incident.resolved:
            incident = Incident(event.key, event.severity, event.message)
            text = self._root_text(incident)
            posted = await self._client.chat_postMessage(
                channel=self._channel, text=text, blocks=_root_blocks(incident, text)
            )
            incident.root_ts = posted["ts"]
            incident.last_reply = self._now()
            self.incidents[event.key] = incident
            self._on_root(event.key, self._channel, posted["ts"])
            return
        if event.message == incident.message:  # e.g. replayed after a restart: already shown
            return
        incident.message = event.message
        if self._now() - incident.last_reply < self._interval:
            incident.suppressed += 1
            return
        repeats = (
            f" ({incident.suppressed} more since the last update)" if incident.suppressed else ""
        )
        await self._client.chat_postMessage(
            channel=self._channel, thread_ts=incident.root_ts, text=escape(event.message) + repeats
        )
        incident.suppressed = 0
        incident.last_reply = self._now()

    async def _acknowledge(self, incident: Incident, user: str) -> None:
        incident.acknowledged_by = user
        text = self._root_text(incident)
        await self._client.chat_update(
            channel=self._channel,
            ts=incident.root_ts,
            text=text,
            blocks=_root_blocks(incident, text),
        )
        await self._client.chat_postMessage(
            channel=self._channel, thread_ts=incident.root_ts, text=f"Acknowledged by <@{user}>"
        )

    async def _resolve(self, incident: Incident, message: str) -> None:
        text = f":white_check_mark: RESOLVED `{incident.key}`: {escape(incident.message)}"
        await self._client.chat_update(
            channel=self._channel,
            ts=incident.root_ts,
            text=text,
            blocks=[_section(text)],
        )
        await self._client.chat_postMessage(
            channel=self._channel, thread_ts=incident.root_ts, text=f"Resolved: {escape(message)}"
        )
        incident.resolved = True

    @staticmethod
    def _root_text(incident: Incident) -> str:
        here = "<!here> " if incident.severity == "critical" else ""
        icon = ICONS.get(incident.severity, ":warning:")
        taken = (
            f" (acknowledged by <@{incident.acknowledged_by}>)" if incident.acknowledged_by else ""
        )
        return f"{here}{icon} `{incident.key}` {escape(incident.message)}{taken}"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _root_blocks(incident: Incident, text: str) -> list[dict[str, Any]]:
    """The incident, with Acknowledge until someone has, and for a reconciliation
    mismatch a button that asks to adopt the broker's position (confirmed like a set)."""
    buttons = []
    if incident.acknowledged_by is None:
        buttons.append(_button("ack", "Acknowledge", incident.key))
    if incident.key.startswith(RECONCILE_PREFIX):
        symbol = incident.key.removeprefix(RECONCILE_PREFIX)
        buttons.append(_button("adopt", f"Adopt broker's {symbol}", symbol))
    blocks = [_section(text)]
    if buttons:
        blocks.append({"type": "actions", "block_id": "incident", "elements": buttons})
    return blocks


def _button(action_id: str, label: str, value: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "value": value,
    }
