"""Slack listeners: call the command core, render, reply.

Registered from one `register(app)`. The `Authorize` middleware has already acked and authorized
every request that reaches them; they stay thin, a confirmation message changes only after the
core accepted its click, and every failure is answered in Slack without a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.render_text import render
from bot.slack.authz import Policy
from bot.slack.blocks import outcome_blocks, result_message
from bot.slack.charts import equity_chart, slippage_histogram
from bot.slack.middleware import Authorize
from bot.slack.preview_update import pending_blocks, show_when_ready
from bot.slack.replies import Refused, Replies
from ops.control.commands import CommandCore
from ops.control.parsing import parse_command
from ops.control.preview import Ticket
from ops.shared import messages
from ops.shared.results import (
    CommandError,
    ConfirmationExpired,
    ConfirmRequest,
    Done,
    KillReport,
    PnlResult,
    SlippageResult,
)

log = logging.getLogger(__name__)
READ_ONLY = frozenset(
    {"status", "pnl", "positions", "reconcile", "config", "slippage", "help", "checklist"}
)
EXPIRED = "Expired: nothing was changed"
KILL_ACCEPTED = "KILL confirmed: halting, cancelling, flattening..."


@dataclass(frozen=True, slots=True)
class Posted:
    """Where a confirmation message was posted, to update it in place later."""

    channel: str
    ts: str
    kind: str


class SlackListeners:
    def __init__(self, core: CommandCore, policy: Policy) -> None:
        self.core = core
        self.policy = policy
        self.confirmations: dict[str, Posted] = {}
        self._edits: dict[str, asyncio.Lock] = {}  # message ts -> held while it is edited
        self._previews: dict[str, Ticket] = {}  # message ts -> its preview on the way

    def register(self, app: AsyncApp) -> None:
        app.use(Authorize(self.core.audit, self.core.spawn, self.policy))
        app.command("/trade")(self.on_command)
        app.action("confirm")(self.on_confirm)
        app.action("cancel")(self.on_cancel)
        app.action("ack")(self.on_incident_button)
        app.action("adopt")(self.on_incident_button)

    # -- /trade ----------------------------------------------------------------------------

    async def on_command(self, command: dict[str, Any], client: Any) -> None:
        user, channel = command["user_id"], command["channel_id"]
        text = command.get("text", "")
        replies = Replies(client, command.get("response_url"))
        try:
            result = await self.core.handle(text, user, channel, "slack")
        except CommandError as exc:
            await replies.say(f":warning: {exc}")
            return
        except Exception as exc:
            await self._internal_error(replies, user, channel, text, exc, "slack-command")
            return
        if isinstance(result, ConfirmRequest):
            await self.post_confirmation(replies, channel, result)
            return
        parsed = parse_command(text)  # the core parsed it already: this cannot fail
        await replies.answer(result, in_channel=parsed.here or parsed.name not in READ_ONLY)
        await self._attach_picture(result, replies, channel)

    async def post_confirmation(
        self, replies: Replies, channel: str, request: ConfirmRequest
    ) -> bool:
        """Post the Confirm/Cancel message (also for App Home and the settings modal); if Slack
        will not show it, withdraw the pending action (nobody could confirm it), say why
        through `replies`, and return False. A backtest preview is added when ready."""
        ticket = self.core.previews.take(request.nonce)
        fallback, blocks = pending_blocks(request, ticket)
        posted = await replies.post(channel, fallback, blocks)
        if isinstance(posted, Refused):
            if ticket is not None:
                ticket.task.cancel()
            self.core.withdraw(request.nonce, channel, "slack", f"slack: {posted.error}")
            await replies.explain(posted, channel, render(request), messages.SLACK_WITHDRAWN)
            return False
        self.confirmations[request.nonce] = Posted(channel, posted, request.kind)
        if ticket is not None:
            self._previews[posted] = ticket
            edits = self._edits.setdefault(posted, asyncio.Lock())
            self.core.spawn(
                f"preview-update:{posted}",
                show_when_ready(
                    replies,
                    (channel, posted),
                    request,
                    ticket,
                    lambda: request.nonce in self.confirmations,
                    edits,
                ),
            )
        return True

    async def _attach_picture(self, result: object, replies: Replies, channel: str) -> None:
        if isinstance(result, PnlResult):
            curve = self.core.queries.equity_curve()
            png = await equity_chart(curve)
            title = f"equity and drawdown ({result.period})"
        elif isinstance(result, SlippageResult) and result.count:
            png = await slippage_histogram(result)
            title = "realized slippage (bps)"
        else:
            return
        if png is None:
            return
        try:
            await replies.client.files_upload_v2(
                channel=channel, file=png, filename="chart.png", title=title
            )
        except SlackApiError as exc:  # the answer went out; say why its chart did not
            refused = Refused(str(exc.response.get("error", "unknown")))
            log.warning("chart upload refused: %s", refused.error)
            await replies.explain(refused, channel, title)
        except Exception as exc:  # a picture is a nice-to-have: say so in the log, go on
            log.warning("chart upload failed: %s", exc)

    async def _internal_error(
        self, replies: Replies, user: str, channel: str, text: str, exc: Exception, where: str
    ) -> None:
        incident = f"error:{where}:{type(exc).__name__}"
        self.core.incidents.report_error(where, exc)
        self.core.audit(user, channel, "slack", text, "error", incident)
        await replies.say(
            f":x: something went wrong running that (incident `{incident}`); nothing was "
            "changed by the failed step. The traceback is in the journal."
        )

    # -- buttons ---------------------------------------------------------------------------

    async def on_confirm(self, body: dict[str, Any], client: Any) -> None:
        nonce, user, channel, ts = _button(body)
        replies = Replies(client, body.get("response_url"))
        try:
            pending = self.core.accept(nonce, user, channel, "slack")
        except ConfirmationExpired as exc:
            self.confirmations.pop(nonce, None)
            await self._close(replies, channel, ts, EXPIRED, user)
            await replies.say(f":warning: {exc}")
            return
        except CommandError as exc:  # refused: the message stays as it is, still confirmable
            await replies.say(f":warning: {exc}")
            return
        self.confirmations.pop(nonce, None)
        if pending.kind == "kill":  # the kill takes a while: say it started
            await self._close(replies, channel, ts, KILL_ACCEPTED, user)
        try:
            result = await self.core.apply(pending, user, channel, "slack")
        except CommandError as exc:
            await self._close(replies, channel, ts, f"Not applied: {exc}", user)
            return
        except Exception as exc:
            await self._internal_error(replies, user, channel, "confirm", exc, "slack-confirm")
            return
        if isinstance(result, KillReport):  # the report in the thread, then the headline
            fallback, blocks = result_message(result)
            if isinstance(await replies.post(channel, fallback, blocks, thread_ts=ts), Refused):
                await replies.say(render(result))
            head = "KILL: FLAT" if result.flat else "KILL: NOT FLAT, still retrying"
            await self._close(replies, channel, ts, head, user)
        elif isinstance(result, Done):
            await self._close(replies, channel, ts, result.title, user)

    async def on_incident_button(self, body: dict[str, Any], client: Any) -> None:
        """Acknowledge an incident, or ask to adopt the broker's position (a confirmation)."""
        value, user, channel, _ = _button(body)
        action = body["actions"][0]["action_id"]
        text = f"{action} {value}"
        replies = Replies(client, body.get("response_url"))
        try:
            result = await self.core.handle(text, user, channel, "slack")
        except CommandError as exc:
            await replies.say(f":warning: {exc}")
            return
        except Exception as exc:
            await self._internal_error(replies, user, channel, text, exc, "slack-button")
            return
        if isinstance(result, ConfirmRequest):
            await self.post_confirmation(replies, channel, result)

    async def on_cancel(self, body: dict[str, Any], client: Any) -> None:
        nonce, user, channel, ts = _button(body)
        replies = Replies(client, body.get("response_url"))
        try:
            done = self.core.cancel(nonce, user, channel, "slack")
        except CommandError as exc:  # refused: the message stays as it is
            await replies.say(f":warning: {exc}")
            return
        self.confirmations.pop(nonce, None)
        await self._close(replies, channel, ts, done.title, user)

    async def expire(self, client: Any) -> None:
        """Mark the messages of confirmations whose time ran out."""
        replies = Replies(client, None)
        for nonce in self.core.expire():
            posted = self.confirmations.pop(nonce, None)
            if posted is not None:
                await self._close(replies, posted.channel, posted.ts, EXPIRED, None)

    async def _close(
        self, replies: Replies, channel: str, ts: str, title: str, user: str | None
    ) -> None:
        """The confirmation message after the fact (no buttons); told to the clicker instead
        if Slack will not update it. A preview being put in waits until this is done."""
        ticket = self._previews.pop(ts, None)
        if ticket is not None:  # no longer wanted: its backtest stops
            ticket.task.cancel()
        edits = self._edits.pop(ts, None) or asyncio.Lock()
        async with edits:
            await replies.update(channel, ts, title, outcome_blocks(title, "", user))


def _button(body: dict[str, Any]) -> tuple[str, str, str, str]:
    action = body["actions"][0]
    channel = body.get("channel", {}).get("id") or body["container"]["channel_id"]
    return action["value"], body["user"]["id"], channel, body["container"]["message_ts"]
