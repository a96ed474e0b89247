"""The Slack surface on the service's event loop: Bolt AsyncApp + Socket Mode (aiohttp),
alert threads, the status board and their scheduled jobs."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.alerts import AlertPoster
from bot.slack.authz import Policy
from bot.slack.home import HomeTab
from bot.slack.listeners import SlackListeners
from bot.slack.modal import SetModal
from bot.slack.socket_mode import SocketModeHandler
from bot.slack.status_board import StatusBoard
from ops.control.commands import CommandCore
from ops.shared import messages
from ops.watch.monitor import SLACK_LOST
from ops.watch.scheduler import Scheduler

log = logging.getLogger(__name__)
DEFAULT_API_URL = "https://slack.com/api/"
EXPIRY_SWEEP_SEC = 5.0
STOP_WAIT_SEC = 5.0


class SlackSurface:
    def __init__(self, core: CommandCore, bot_token: str, app_token: str) -> None:
        settings = core.settings
        self.core = core
        self.client = AsyncWebClient(
            token=bot_token, base_url=settings.text("slack.api_url") or DEFAULT_API_URL
        )
        self.client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
        self.app = AsyncApp(client=self.client)
        policy = Policy.from_settings(settings)
        self.listeners = SlackListeners(core, policy)
        post = self.listeners.post_confirmation
        self.modal = SetModal(core, policy, self.client, post)
        self.modal.register(self.app)  # before the general /trade listener: first match runs
        self.listeners.register(self.app)
        self.home = HomeTab(
            core, policy, self.client, settings.text("slack.channel"), post, self.modal.open
        )
        self.home.register(self.app)
        self.handler = SocketModeHandler(self.app, app_token)
        channel = settings.text("slack.channel")
        journal = core.journal
        self.alerts = AlertPoster(
            self.client,
            settings.text("slack.alerts_channel") or channel,
            min_reply_interval=settings.number("monitoring.alert_repeat_sec"),
            on_root=lambda key, channel, ts: journal.record(
                "slack_threads", {"key": key, "channel": channel, "root_ts": ts}
            ),
        )
        self.board = StatusBoard(self.client, channel, core)
        self._channel = channel
        self._down_since: float | None = None
        self._connecting: asyncio.Task[None] | None = None

    def schedule(self, scheduler: Scheduler) -> None:
        settings = self.core.settings
        scheduler.every(
            "confirm-expiry", EXPIRY_SWEEP_SEC, lambda: self.listeners.expire(self.client)
        )
        scheduler.every(
            "slack-connection",
            settings.number("monitoring.health_check_sec"),
            self.check_connection,
        )
        scheduler.every("heartbeat", settings.number("monitoring.heartbeat_sec"), self.heartbeat)
        if self._channel:
            hour, minute = settings.clock_time("slack.daily_summary_time")
            scheduler.daily("daily-summary", hour, minute, self.board.daily_summary)

    async def heartbeat(self) -> None:
        """The status board and every open App Home tab, refreshed together; skipped while
        the `slack` incident is open, and a Slack that does not answer is one log line: the
        connection check, not this job, reports an outage."""
        if self._down_since is not None:
            return
        try:
            await self._refresh()
        except (aiohttp.ClientError, TimeoutError, SlackApiError) as exc:
            if isinstance(exc, SlackApiError) and exc.response.status_code < 500:
                raise  # Slack answered and refused: a real error of this job
            log.warning("status board not refreshed: Slack did not answer (%s)", exc)

    async def _refresh(self) -> None:
        try:
            if self._channel:
                await self.board.update()
        finally:
            await self.home.heartbeat()

    async def start(self) -> None:
        """Alert threads now; the connection in the background, so a Slack that cannot be
        reached holds up neither the start nor a stop (--duration, a signal)."""
        core = self.core
        await self._resume_threads()
        core.incidents.add_sink(self.alerts)
        core.spawn("slack-alerts", self.alerts.run())
        self._connecting = core.spawn("slack-connect", self._connect())

    async def _connect(self) -> None:
        await self.handler.connect_until_up(self._down)
        log.info("connected to Slack in Socket Mode")
        await self.check_connection()  # resolves what the failed attempts raised

    async def _resume_threads(self) -> None:
        """Incidents still open from the last run keep their Slack thread, not a new root."""
        rows = await self.core.journal.aquery(
            "select key, root_ts from slack_threads where channel = ? order by id",
            (self.alerts.channel,),
        )
        roots = {str(r["key"]): str(r["root_ts"]) for r in rows}
        for key, (severity, message) in self.core.incidents.all().items():
            if key in roots:
                self.alerts.resume(key, severity, message, roots[key])

    async def check_connection(self) -> None:
        """A lost Socket Mode connection is an incident (slack_sdk keeps reconnecting)."""
        incidents = self.core.incidents
        if not await self.handler.client.is_connected():
            self._down()
        elif self._down_since is not None:
            self._down_since = None
            incidents.resolve("slack", "Slack connection is back")
            incidents.resolve(SLACK_LOST, "Slack connection is back")

    def _down(self) -> None:
        """The `slack` incident, from the first failed attempt to connect or the first check
        that finds the connection lost; with `monitoring.pause_on_slack_lost_sec` set, a long
        loss is also a dead-man condition."""
        incidents = self.core.incidents
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
        down = now - self._down_since
        error = self.handler.client.last_error
        reason = f" ({error})" if error else ""
        incidents.alert("slack", "warning", messages.SLACK_DOWN.format(reason=reason))
        limit = self.core.settings.number("monitoring.pause_on_slack_lost_sec")
        if limit and down >= limit:
            incidents.alert(
                SLACK_LOST, "critical", f"Slack unreachable for {down:.0f}s: entries paused"
            )

    async def stop(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.wait([self._connecting], timeout=STOP_WAIT_SEC)
        await self.handler.close_async()
