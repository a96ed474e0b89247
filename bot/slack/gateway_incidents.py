"""Every process's incidents in the gateway's alerts channel, as the single service posts its
own: the same AlertPoster (threads, dedup, flood control, Acknowledge buttons), each incident
keyed and named by its process (`oms.main/exit-refused:SPY`, "account main, oms.main: ...").

An Acknowledge goes back to the process that owns the incident (it journals it and publishes
the ack, which edits the root); the gateway's own incidents (a silent process) are acknowledged
here. A kill's outcome from each order manager is posted in the thread where that kill was
confirmed; one that arrives before the thread is known waits for it. The roots are kept in the
gateway's journal, so a restarted gateway resolves the threads it opened before.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any

from nats.aio.client import Client

from bot.slack.alert_view import fit
from bot.slack.alerts import AlertPoster
from bot.slack.replies import Replies
from ops.cluster.config import ClusterConfig
from ops.cluster.incident_feed import ask_acknowledge, follow_incidents
from ops.cluster.incidents import IncidentEvent
from ops.journal.journal import Journal

log = logging.getLogger(__name__)
SEPARATOR = "/"  # process/key
WAITING_OUTCOMES = 100  # kill outcomes kept for a thread not known yet
RETRY_SEC = 2.0
ROOTS = "select key, root_ts from slack_threads where channel = ? order by id"


def incident_key(event: IncidentEvent) -> str:
    return f"{event.process}{SEPARATOR}{event.key}"


def label(event: IncidentEvent) -> str:
    where = f"account {event.account}, " if event.account else ""
    return f"{where}{event.process}: "


class GatewayIncidents:
    def __init__(
        self, nc: Client, cfg: ClusterConfig, alerts: AlertPoster, client: Any, journal: Journal
    ) -> None:
        self._nc = nc
        self._cfg = cfg
        self._alerts = alerts
        self._client = client
        self._journal = journal
        self._roots: dict[str, str] = {}  # key -> root ts of a thread still open
        self._threads: dict[tuple[str, int], tuple[str, str]] = {}  # kill -> (channel, ts)
        self._waiting: OrderedDict[tuple[str, int], list[IncidentEvent]] = OrderedDict()

    def on_root(self, key: str, channel: str, ts: str) -> None:
        """AlertPoster's: each new root, kept across a gateway restart."""
        self._roots[key] = ts
        self._journal.record("slack_threads", {"key": key, "channel": channel, "root_ts": ts})

    async def run(self) -> None:
        """Until cancelled: a failure (NATS down at the start...) is logged and tried again."""
        rows = await self._journal.aquery(ROOTS, (self._alerts.channel,))
        roots = {str(r["key"]): str(r["root_ts"]) for r in rows}  # the newest row per key
        self._roots = {key: ts for key, ts in roots.items() if ts}  # "": resolved
        while True:
            try:
                await follow_incidents(self._nc, self._cfg, self.handle)
            except Exception as exc:
                log.warning("incidents feed failed (%r); again in %gs", exc, RETRY_SEC)
                await asyncio.sleep(RETRY_SEC)

    async def handle(self, event: IncidentEvent) -> None:
        key = incident_key(event)
        if event.kind == "notice":
            self._alerts.notice(label(event) + event.message)
        elif event.kind == "kill":
            await self._kill_outcome(event)
        elif event.kind == "raise":
            self._resume(key, event.severity, label(event) + event.message)
            self._alerts.raise_alert(key, event.severity, label(event) + event.message)
        elif event.kind == "resolve":
            self._resume(key, "info", label(event) + event.message)
            self._alerts.resolve_alert(key, event.message)
            self._forget(key)
        elif event.kind == "ack":
            self._resume(key, "info", "")
            self._alerts.acknowledge(key, event.user)

    def _resume(self, key: str, severity: str, message: str) -> None:
        """An incident whose thread a gateway before this one opened: into that thread."""
        incident = self._alerts.incidents.get(key)
        if (incident is None or incident.resolved) and key in self._roots:
            self._alerts.resume(key, severity, message, self._roots[key])

    def _forget(self, key: str) -> None:
        if self._roots.pop(key, None) is not None:
            channel = self._alerts.channel
            self._journal.record("slack_threads", {"key": key, "channel": channel, "root_ts": ""})

    # -- Acknowledge -----------------------------------------------------------------------

    async def acknowledge(self, key: str, user: str, replies: Replies) -> None:
        """An Acknowledge clicked on a process's incident goes to that process; on the
        gateway's own, it is taken here."""
        process, sep, own_key = key.partition(SEPARATOR)
        if not sep:
            self._alerts.acknowledge(key, user)
            return
        refused = await ask_acknowledge(self._nc, process, own_key, user)
        if refused is not None:
            await replies.say(f":warning: {refused}")

    # -- kill outcomes ---------------------------------------------------------------------

    async def kill_thread(self, control_key: str, revision: int, channel: str, ts: str) -> None:
        """The thread of a confirmed kill: its outcomes go there (those already in first)."""
        self._threads[(control_key, revision)] = (channel, ts)
        for event in self._waiting.pop((control_key, revision), []):
            await self._post_outcome(event, channel, ts)

    async def _kill_outcome(self, event: IncidentEvent) -> None:
        kill = (event.control_key, event.control_revision)
        where = self._threads.get(kill)
        if where is not None:
            await self._post_outcome(event, *where)
            return
        if not event.control_key:  # a kill from the process's own kill file or command
            return  # its incident and notice say it in the alerts channel
        self._waiting.setdefault(kill, []).append(event)
        while len(self._waiting) > WAITING_OUTCOMES:
            self._waiting.popitem(last=False)

    async def _post_outcome(self, event: IncidentEvent, channel: str, ts: str) -> None:
        icon = ":white_check_mark:" if event.flat else ":rotating_light:"
        text = fit(f"{icon} {label(event)}", event.message)
        try:
            await self._client.chat_postMessage(channel=channel, thread_ts=ts, text=text)
        except Exception as exc:  # the alerts channel has it too (incident or notice)
            log.warning("kill outcome of %s not posted in its thread: %r", event.process, exc)
