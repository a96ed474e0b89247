"""Slack listeners: ack at once, authorize, call the command core, render.

Registered from one `register(app, surface)`; the listeners stay thin and every failure is
answered in Slack without a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.slack.authz import Policy, decide
from bot.slack.blocks import outcome_blocks, result_message
from bot.slack.charts import equity_chart, slippage_histogram
from ops.commands import CommandCore
from ops.parsing import parse_command
from ops.results import (
    CommandError,
    ConfirmationExpired,
    ConfirmRequest,
    Done,
    KillReport,
    PnlResult,
    Result,
    SlippageResult,
)

log = logging.getLogger(__name__)
Respond = Callable[..., Awaitable[Any]]
READ_ONLY = frozenset(
    {"status", "pnl", "positions", "reconcile", "config", "slippage", "help", "checklist"}
)


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

    def register(self, app: AsyncApp) -> None:
        app.command("/trade")(self.on_command)
        app.action("confirm")(self.on_confirm)
        app.action("cancel")(self.on_cancel)
        app.action("ack")(self.on_incident_button)
        app.action("adopt")(self.on_incident_button)

    # -- /trade ----------------------------------------------------------------------------

    async def on_command(
        self, ack: Any, command: dict[str, Any], respond: Respond, client: Any
    ) -> None:
        await ack()
        user, channel = command["user_id"], command["channel_id"]
        text = command.get("text", "")
        try:
            result = await self._authorized_handle(parse_command(text).name, text, user, channel)
        except CommandError as exc:
            await respond(text=f":warning: {exc}", response_type="ephemeral")
            return
        except Exception as exc:
            await self._internal_error(respond, user, channel, text, exc, "slack-command")
            return
        fallback, blocks = result_message(result)
        if isinstance(result, ConfirmRequest):
            await self._post_confirmation(client, channel, result)
            return
        here = parse_command(text).here or parse_command(text).name not in READ_ONLY
        await respond(
            text=fallback, blocks=blocks, response_type="in_channel" if here else "ephemeral"
        )
        await self._attach_picture(result, client, channel)

    async def _authorized_handle(self, action: str, text: str, user: str, channel: str) -> Result:
        """The command core's answer, if this user may do `action` here (audited if not)."""
        refusal = decide(self.policy, user, channel, action)
        if refusal is not None:
            self.core.audit(user, channel, "slack", text, "unauthorized", refusal)
            raise CommandError(refusal)
        return await self.core.handle(text, user, channel, "slack")

    async def _post_confirmation(self, client: Any, channel: str, request: ConfirmRequest) -> None:
        fallback, blocks = result_message(request)
        posted = await client.chat_postMessage(channel=channel, text=fallback, blocks=blocks)
        self.confirmations[request.nonce] = Posted(channel, posted["ts"], request.kind)

    async def _attach_picture(self, result: object, client: Any, channel: str) -> None:
        if isinstance(result, PnlResult):
            curve = self.core.service.book.equity_curve
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
            await client.files_upload_v2(
                channel=channel, file=png, filename="chart.png", title=title
            )
        except Exception as exc:  # a picture is a nice-to-have: say so in the log, go on
            log.warning("chart upload failed: %s", exc)

    async def _internal_error(
        self, respond: Respond, user: str, channel: str, text: str, exc: Exception, where: str
    ) -> None:
        incident = f"error:{where}:{type(exc).__name__}"
        self.core.service.report_error(where, exc)
        self.core.audit(user, channel, "slack", text, "error", incident)
        await respond(
            text=f":x: something went wrong running that (incident `{incident}`); nothing was "
            "changed by the failed step. The traceback is in the journal.",
            response_type="ephemeral",
        )

    # -- buttons ---------------------------------------------------------------------------

    async def on_confirm(
        self, ack: Any, body: dict[str, Any], client: Any, respond: Respond
    ) -> None:
        await ack()
        nonce, user, channel, ts = _button(body)
        refusal = decide(self.policy, user, channel, "confirm")
        if refusal is not None:
            self.core.audit(user, channel, "slack", "confirm", "unauthorized", refusal)
            await respond(
                text=f":warning: {refusal}", response_type="ephemeral", replace_original=False
            )
            return
        posted = self.confirmations.get(nonce)
        if posted is not None and posted.kind == "kill":
            await client.chat_update(
                channel=channel,
                ts=ts,
                text="KILL confirmed: halting and flattening...",
                blocks=outcome_blocks(
                    "KILL confirmed: halting, cancelling, flattening...", "", user
                ),
            )
        try:
            result = await self.core.confirm(nonce, user, channel, "slack")
        except ConfirmationExpired as exc:
            await self._close(client, channel, ts, "Expired: nothing was changed", user)
            await respond(
                text=f":warning: {exc}", response_type="ephemeral", replace_original=False
            )
            return
        except CommandError as exc:
            await respond(
                text=f":warning: {exc}", response_type="ephemeral", replace_original=False
            )
            return
        except Exception as exc:
            await self._internal_error(respond, user, channel, "confirm", exc, "slack-confirm")
            return
        self.confirmations.pop(nonce, None)
        fallback, _ = result_message(result)
        if isinstance(result, KillReport):
            head = "KILL: FLAT" if result.flat else "KILL: NOT FLAT, still retrying"
            await self._close(client, channel, ts, head, user)
            await client.chat_postMessage(
                channel=channel, thread_ts=ts, text=fallback, blocks=result_message(result)[1]
            )
        elif isinstance(result, Done):
            await self._close(client, channel, ts, result.title, user)

    async def on_incident_button(
        self, ack: Any, body: dict[str, Any], client: Any, respond: Respond
    ) -> None:
        """Acknowledge an incident, or ask to adopt the broker's position (a confirmation)."""
        await ack()
        value, user, _, _ = _button(body)
        action = body["actions"][0]["action_id"]
        channel = body.get("channel", {}).get("id") or body["container"]["channel_id"]
        text = f"{action} {value}"
        try:
            result = await self._authorized_handle(action, text, user, channel)
        except CommandError as exc:
            await respond(
                text=f":warning: {exc}", response_type="ephemeral", replace_original=False
            )
            return
        except Exception as exc:
            await self._internal_error(respond, user, channel, text, exc, "slack-button")
            return
        if isinstance(result, ConfirmRequest):
            await self._post_confirmation(client, channel, result)

    async def on_cancel(
        self, ack: Any, body: dict[str, Any], client: Any, respond: Respond
    ) -> None:
        await ack()
        nonce, user, channel, ts = _button(body)
        try:
            done = self.core.cancel(nonce, user, channel, "slack")
        except CommandError as exc:
            await respond(
                text=f":warning: {exc}", response_type="ephemeral", replace_original=False
            )
            return
        self.confirmations.pop(nonce, None)
        await self._close(client, channel, ts, done.title, user)

    async def expire(self, client: Any) -> None:
        """Mark the messages of confirmations whose time ran out."""
        for nonce in self.core.expire():
            posted = self.confirmations.pop(nonce, None)
            if posted is not None:
                await self._close(
                    client, posted.channel, posted.ts, "Expired: nothing was changed", None
                )

    @staticmethod
    async def _close(client: Any, channel: str, ts: str, title: str, user: str | None) -> None:
        await client.chat_update(
            channel=channel, ts=ts, text=title, blocks=outcome_blocks(title, "", user)
        )


def _button(body: dict[str, Any]) -> tuple[str, str, str, str]:
    action = body["actions"][0]
    channel = body.get("channel", {}).get("id") or body["container"]["channel_id"]
    return action["value"], body["user"]["id"], channel, body["container"]["message_ts"]
