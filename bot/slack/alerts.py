"""Incidents as Slack threads: one root message per key, repeats in its thread (flood
controlled), resolution edits the root. Posting is queued: a Slack outage delays alerts and
never blocks trading. The queue is bounded (`max_pending`); when full, the update dropped is,
in order: an older queued update of the same incident (the newer says more), the oldest
notice, the oldest update of any incident. Drops are counted (`dropped`), logged, and told in
the channel by one queued drop report once Slack takes posts again; every alert stays in the
journal.

Every text fits what Slack takes (bot/slack/alert_view.py words it): a root, reply, resolution
or notice is cut to a section's 3,000 characters and then ends with "... (N more characters in
the journal)" (the journal has the whole message: its alerts table, or runs for a notice).

A post Slack does not take (bot/slack/refusals.py sorts its answers by Slack's error codes):
- Final (a refused message, a channel we are not in or that is archived, a revoked token...):
  the same request would be refused again, so the update is logged in one line and dropped,
  and the queue goes on at once. Refused blocks are the exception: the same text is sent again
  without blocks (and so without buttons), and the incident is still seen. A resolution
  dropped this way still closes the incident here (its next raise opens a new thread).
- Transient (rate limited, 5xx, Slack's transient error codes, no connection): retried with
  a backoff doubling from `first_backoff` to MAX_BACKOFF_SEC. Only that incident waits (its
  later updates stay behind it, in order); other incidents and notices go on. After any
  transient failure the next call waits `first_backoff`, so an outage costs at most about one
  call per `first_backoff` (each incident one per its backoff). The client's slack_sdk retry
  handlers run first, inside the call: rate limits with Retry-After (bot/slack/surface.py)
  and dropped connections (slack_sdk's default).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.slack.alert_view import DROPPED, fit, root_blocks, root_text, section
from bot.slack.refusals import BLOCK_ERRORS, error_code, is_transient

log = logging.getLogger(__name__)
FIRST_BACKOFF_SEC = 1.0
MAX_BACKOFF_SEC = 30.0
MAX_PENDING = 1_000


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


@dataclass(frozen=True, slots=True, eq=False)  # two equal updates are two queue entries
class _Event:
    kind: str  # "raise" | "resolve" | "notice" | "ack" | "dropped"
    key: str
    severity: str
    message: str


class AlertPoster:
    """Implements ops.service.incidents.AlertSink for a Slack channel."""

    def __init__(
        self,
        client: Any,
        channel: str,
        min_reply_interval: float = 60.0,
        now: Callable[[], float] = time.monotonic,
        on_root: Callable[[str, str, str], None] = lambda key, channel, ts: None,
        max_pending: int = MAX_PENDING,
        first_backoff: float = FIRST_BACKOFF_SEC,
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
        self._first_backoff = first_backoff
        self._sending: _Event | None = None
        self._failures: dict[str, int] = {}  # key -> transient failures of its oldest update
        self._retry_at: dict[str, float] = {}  # key -> loop time its updates wait for
        self._quiet_until = 0.0  # loop time: after a transient failure, no call before it

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
        """Make room by the stated policy; the update being delivered and the drop report
        itself are never dropped."""
        candidates = [e for e in self._queue if e.kind != "dropped" and e is not self._sending]
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
        """Deliver queued events, in order per incident; a refusal is handled as the module
        docstring says."""
        loop = asyncio.get_running_loop()
        while True:
            event, wake_at = self._next_due(loop.time())
            if event is None:
                await self._sleep(wake_at, loop)
                continue
            self._sending = event
            try:
                await self._deliver(event)
            except Exception as exc:
                if is_transient(exc):
                    self._defer(event, exc, loop.time())
                    continue
                self._give_up(event, exc)
            finally:
                self._sending = None
            self._failures.pop(event.key, None)
            self._retry_at.pop(event.key, None)
            self._queue.remove(event)

    def _next_due(self, now: float) -> tuple[_Event | None, float | None]:
        """The oldest update whose incident is not waiting out a transient failure; else
        None and when to look again (None: when something is queued)."""
        if now < self._quiet_until:
            return None, self._quiet_until
        waits = [self._retry_at.get(e.key, 0.0) for e in self._queue]
        for event, wait in zip(self._queue, waits, strict=True):
            if wait <= now:
                return event, None
        return None, min(waits, default=None)

    async def _sleep(self, wake_at: float | None, loop: asyncio.AbstractEventLoop) -> None:
        self._wakeup.clear()
        timeout = None if wake_at is None else max(0.0, wake_at - loop.time())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)

    def _defer(self, event: _Event, exc: Exception, now: float) -> None:
        failures = self._failures[event.key] = self._failures.get(event.key, 0) + 1
        delay = min(self._first_backoff * 2 ** (failures - 1), MAX_BACKOFF_SEC)
        self._retry_at[event.key] = now + delay
        self._quiet_until = now + self._first_backoff
        log.warning(
            "alert %s not delivered (%s); retrying in %gs", _label(event), error_code(exc), delay
        )

    def _give_up(self, event: _Event, exc: Exception) -> None:
        """Slack will not take this update however often it is sent: one line, and on."""
        log.warning(
            "alert %s not delivered and dropped (%s: final, not retried); the journal has it",
            _label(event),
            error_code(exc),
        )
        incident = self.incidents.get(event.key)
        if event.kind == "resolve" and incident is not None:
            incident.resolved = True
        if event.kind == "dropped":
            self._unreported = 0  # told in the log instead

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
            await self._client.chat_postMessage(channel=self._channel, text=fit("", event.message))
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
            text = root_text(incident)
            posted = await self._with_blocks(
                self._client.chat_postMessage, root_blocks(incident, text), None, text=text
            )
            incident.root_ts = posted["ts"]
            incident.last_reply = self._now()
            self.incidents[event.key] = incident
            self._on_root(event.key, self._channel, posted["ts"])
            return
        if event.message == incident.message:  # e.g. replayed after a restart: already shown
            return
        if self._now() - incident.last_reply < self._interval:
            incident.message = event.message
            incident.suppressed += 1
            return
        repeats = (
            f" ({incident.suppressed} more since the last update)" if incident.suppressed else ""
        )
        await self._client.chat_postMessage(
            channel=self._channel, thread_ts=incident.root_ts, text=fit("", event.message, repeats)
        )
        incident.message = event.message  # only now: a retry after a failure must still post
        incident.suppressed = 0
        incident.last_reply = self._now()

    async def _acknowledge(self, incident: Incident, user: str) -> None:
        incident.acknowledged_by = user
        text = root_text(incident)
        await self._with_blocks(
            self._client.chat_update,
            root_blocks(incident, text),
            [],
            ts=incident.root_ts,
            text=text,
        )
        await self._client.chat_postMessage(
            channel=self._channel, thread_ts=incident.root_ts, text=f"Acknowledged by <@{user}>"
        )

    async def _resolve(self, incident: Incident, message: str) -> None:
        text = fit(f":white_check_mark: RESOLVED `{incident.key}`: ", incident.message)
        await self._with_blocks(
            self._client.chat_update, [section(text)], [], ts=incident.root_ts, text=text
        )
        await self._client.chat_postMessage(
            channel=self._channel, thread_ts=incident.root_ts, text=fit("Resolved: ", message)
        )
        incident.resolved = True

    async def _with_blocks(
        self,
        call: Callable[..., Awaitable[Any]],
        blocks: list[dict[str, Any]],
        without: list[Any] | None,
        **message: Any,
    ) -> Any:
        """Post or edit with blocks; if Slack refuses the blocks, the same text without them
        (`without`: None posts none, [] removes an edited message's old ones)."""
        try:
            return await call(channel=self._channel, blocks=blocks, **message)
        except SlackApiError as exc:
            if error_code(exc) not in BLOCK_ERRORS:
                raise
            log.warning("alert blocks refused (%s): sent as plain text", error_code(exc))
            return await call(channel=self._channel, blocks=without, **message)


def _label(event: _Event) -> str:
    return event.key or event.kind
