"""The cluster's one Slack surface: a Socket Mode connection whose `/trade` reaches every
account and process through the gateway core.

The single-process surface's pieces are reused: the authorization/audit middleware, the reply
path (response_url fallbacks), Block Kit confirmations and the alert poster. A kill is two-step;
after the Confirm its message says what was written and its thread says who acknowledged it
("acknowledged by N of M", silent processes named), edited as late ones acknowledge, and each
order manager's kill outcome. A silent process is an alert thread, and so is every process's
incident (gateway_incidents).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.alerts import AlertPoster
from bot.slack.authz import Policy
from bot.slack.blocks import outcome_blocks, result_message
from bot.slack.gateway_incidents import GatewayIncidents
from bot.slack.gateway_view import (
    ack_line,
    answers_done,
    change_done,
    outcome_done,
    status_done,
)
from bot.slack.middleware import Authorize
from bot.slack.preview_update import PreviewEdits, pending_blocks
from bot.slack.replies import Refused, Replies
from bot.slack.socket_mode import SocketModeHandler
from ops.cluster.acks import read_components, silent_components, watch_acks
from ops.cluster.gateway import GatewayCore
from ops.cluster.gateway_changes import ChangeOutcome
from ops.cluster.gateway_results import AccountAnswers, ClusterStatus, ControlOutcome
from ops.shared import messages
from ops.shared.results import CommandError, ConfirmationExpired, ConfirmRequest, Done, HelpResult

log = logging.getLogger(__name__)
SURFACE = "slack"
SILENT = "silent:"  # alert key prefix: one incident per silent process
EXPIRY_SWEEP_SEC = 5.0
FOLLOW_ACKS_SEC = 600.0  # a kill's thread is edited as late acknowledgements arrive, this long


class GatewaySurface:
    def __init__(
        self,
        core: GatewayCore,
        policy: Policy,
        bot_token: str,
        app_token: str,
        api_url: str,
        alerts_channel: str,
        alert_repeat_sec: float = 60.0,
    ) -> None:
        self.core = core
        self.client = AsyncWebClient(token=bot_token, base_url=api_url)
        self.client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
        self.app = AsyncApp(client=self.client)
        self.app.use(Authorize(core.audit, self.spawn, policy))
        self.app.command("/trade")(self.on_command)
        self.app.action("confirm")(self.on_confirm)
        self.app.action("cancel")(self.on_cancel)
        self.handler = SocketModeHandler(self.app, app_token)
        self.alerts = AlertPoster(
            self.client,
            alerts_channel,
            min_reply_interval=alert_repeat_sec,
            on_root=lambda key, channel, ts: self.incidents.on_root(key, channel, ts),
        )
        self.incidents = GatewayIncidents(core.nc, core.cfg, self.alerts, self.client, core.journal)
        self.app.action("ack")(self.on_acknowledge)
        self.confirmations: dict[str, tuple[str, str]] = {}  # nonce -> (channel, ts)
        self.previews = PreviewEdits(self.spawn)  # a set's backtest, put in when ready
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._silent: set[str] = set()
        self._stopping = False

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A named background task, kept until it ends; a failure is logged."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks[name] = task
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        if self._tasks.get(task.get_name()) is task:
            del self._tasks[task.get_name()]
        if not task.cancelled() and task.exception() is not None:
            log.error("gateway task %s failed", task.get_name(), exc_info=task.exception())

    async def start(self) -> None:
        self.spawn("slack-alerts", self.alerts.run())
        self.spawn("incidents", self.incidents.run())  # every process's, from the stream
        self.spawn("silent-watch", self._every(self.core.cfg.heartbeat_sec, self.check_silent))
        self.spawn("confirm-expiry", self._every(EXPIRY_SWEEP_SEC, self.expire))
        self.spawn("slack-connect", self.handler.connect_until_up())  # never holds up a stop

    async def stop(self) -> None:
        self._stopping = True  # nats-py turns some cancellations into its own errors
        await self.handler.close_async()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=5)
            for task in late:
                log.warning("gateway task %s did not stop within 5 s", task.get_name())

    async def _every(self, period: float, job: Any) -> None:
        while not self._stopping:
            try:
                await job()
            except Exception:
                log.exception("gateway job %s failed", getattr(job, "__name__", job))
            await asyncio.sleep(period)

    # -- /trade ----------------------------------------------------------------------------

    async def on_command(self, command: dict[str, Any], client: Any) -> None:
        user, channel = command["user_id"], command["channel_id"]
        text = command.get("text", "")
        replies = Replies(client, command.get("response_url"))
        try:
            result = await self.core.handle(text, user, channel, SURFACE)
        except CommandError as exc:
            await replies.say(f":warning: {exc}")
            return
        if isinstance(result, ConfirmRequest):
            await self._post_confirmation(replies, channel, result)
        elif isinstance(result, ClusterStatus):
            await replies.answer(status_done(result), in_channel=self.core.parse(text)[0].here)
        elif isinstance(result, AccountAnswers):
            await replies.answer(answers_done(result), in_channel=self.core.parse(text)[0].here)
        elif isinstance(result, ControlOutcome):
            await replies.answer(outcome_done(result), in_channel=True)
        elif isinstance(result, HelpResult | Done):
            await replies.answer(result, in_channel=False)

    async def _post_confirmation(
        self, replies: Replies, channel: str, request: ConfirmRequest
    ) -> None:
        ticket = self.core.changes.take_preview(request.nonce)
        fallback, blocks = pending_blocks(request, ticket)
        posted = await replies.post(channel, fallback, blocks)
        if isinstance(posted, Refused):  # nobody could click it: nothing may wait for it
            if ticket is not None:
                ticket.task.cancel()
            await self.core.withdraw(request.nonce, channel, SURFACE, f"slack: {posted.error}")
            await replies.explain(posted, channel, fallback, messages.SLACK_WITHDRAWN)
            return
        self.confirmations[request.nonce] = (channel, posted)
        if ticket is not None:
            self.previews.show(
                replies,
                (channel, posted),
                request,
                ticket,
                lambda: request.nonce in self.confirmations,
            )

    # -- buttons ---------------------------------------------------------------------------

    async def on_confirm(self, body: dict[str, Any], client: Any) -> None:
        nonce, user, channel, ts = _button(body)
        replies = Replies(client, body.get("response_url"))
        try:
            pending = self.core.accept(nonce, user, channel, SURFACE)
        except ConfirmationExpired as exc:
            self.confirmations.pop(nonce, None)
            async with self.previews.closing(ts):
                await _close(replies, channel, ts, "Expired: nothing was changed", user)
            await replies.say(f":warning: {exc}")
            return
        except CommandError as exc:  # refused: the message stays, still confirmable
            await replies.say(f":warning: {exc}")
            return
        self.confirmations.pop(nonce, None)
        async with self.previews.closing(ts):
            await _close(replies, channel, ts, f"{pending.kind} confirmed: writing it...", user)
        try:
            outcome = await self.core.apply(pending, user, channel, SURFACE)
        except CommandError as exc:  # refused at this point (the account, or written since)
            await _close(replies, channel, ts, f"Not applied: {exc}", user)
            await replies.say(f":warning: {exc}")
            return
        reply = await self._report(replies, channel, ts, outcome, None)
        if isinstance(outcome, ControlOutcome) and outcome.verb == "kill":
            await self.incidents.kill_thread(
                outcome.report.key, outcome.report.revision, channel, ts
            )
        if outcome.report is not None and not outcome.report.all_acked:  # late or silent
            self.spawn(f"acks-{ts}", self._follow_up(replies, channel, ts, outcome, reply))

    async def _report(
        self,
        replies: Replies,
        channel: str,
        ts: str,
        outcome: ControlOutcome | ChangeOutcome,
        reply: str | None,
    ) -> str | None:
        """The thread says who acknowledged (its reply edited once posted); the message's
        headline says how many. The reply's ts, None when Slack refused it."""
        if isinstance(outcome, ControlOutcome):
            done = outcome_done(outcome)
        else:
            done = change_done(outcome)
        fallback, blocks = result_message(done)
        if reply is None:
            posted = await replies.post(channel, fallback, blocks, thread_ts=ts)
            if isinstance(posted, Refused):
                await replies.say(fallback)
            else:
                reply = posted
        else:
            await replies.update(channel, reply, fallback, blocks)
        head = done.title
        if outcome.report is not None:
            head += f": {ack_line(outcome.report)}"
        await _close(replies, channel, ts, head, outcome.by)
        return reply

    async def _follow_up(
        self,
        replies: Replies,
        channel: str,
        ts: str,
        outcome: ControlOutcome | ChangeOutcome,
        reply: str | None,
    ) -> None:
        """Each late acknowledgement edits the thread, until every process in scope (silent
        ones that come back too) acknowledged or FOLLOW_ACKS_SEC passed."""
        core, report = self.core, outcome.report
        assert report is not None
        written_ns = outcome.written_ns if isinstance(outcome, ControlOutcome) else None
        reports = watch_acks(
            core.js, core.cfg, report.key, report.revision, FOLLOW_ACKS_SEC, core.clock, written_ns
        )
        async with contextlib.aclosing(reports):
            async for later in reports:
                if later.who != report.who:
                    report = later
                    late = replace(outcome, report=later)
                    reply = await self._report(replies, channel, ts, late, reply)

    async def on_acknowledge(self, body: dict[str, Any], client: Any) -> None:
        action = body["actions"][0]
        replies = Replies(client, body.get("response_url"))
        await self.incidents.acknowledge(action["value"], body["user"]["id"], replies)

    async def on_cancel(self, body: dict[str, Any], client: Any) -> None:
        nonce, user, channel, ts = _button(body)
        replies = Replies(client, body.get("response_url"))
        try:
            done = self.core.cancel(nonce, user, channel, SURFACE)
        except CommandError as exc:
            await replies.say(f":warning: {exc}")
            return
        self.confirmations.pop(nonce, None)
        await self.core.withdraw_held(nonce, user, channel)
        async with self.previews.closing(ts):
            await _close(replies, channel, ts, done.title, user)

    async def expire(self) -> None:
        replies = Replies(self.client, None)
        for nonce in self.core.expire():
            where = self.confirmations.pop(nonce, None)
            if where is not None:
                async with self.previews.closing(where[1]):
                    await _close(replies, *where, "Expired: nothing was changed", None)

    # -- silent processes --------------------------------------------------------------------

    async def check_silent(self) -> None:
        """Each silent process is an incident; it resolves when it beats again or leaves."""
        cfg = self.core.cfg
        components = await read_components(self.core.js, cfg)
        now = self.core.clock.now()
        silent = {c.key: c for c in silent_components(components, now, cfg.silent_after_sec)}
        for key, c in silent.items():
            if key not in self._silent:
                self.alerts.raise_alert(
                    SILENT + key,
                    "critical",
                    f"{key} is silent: no heartbeat for {c.age(now):.0f}s "
                    f"(silent after {cfg.silent_after_sec:g}s)",
                )
        for key in self._silent - silent.keys():
            self.alerts.resolve_alert(SILENT + key, f"{key} is heartbeating again (or stopped)")
        self._silent = set(silent)


async def _close(replies: Replies, channel: str, ts: str, title: str, user: str | None) -> None:
    await replies.update(channel, ts, title, outcome_blocks(title, "", user))


def _button(body: dict[str, Any]) -> tuple[str, str, str, str]:
    action = body["actions"][0]
    channel = body.get("channel", {}).get("id") or body["container"]["channel_id"]
    return action["value"], body["user"]["id"], channel, body["container"]["message_ts"]
