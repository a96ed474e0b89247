"""The reply path of one Slack request: Web API calls whose failure falls back to the request's
response_url with a sentence the user can act on, so no command goes unanswered."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.render_text import render
from bot.slack.blocks import SECTION_LIMIT, BlockDict, fit_lines, result_message
from ops.shared import messages
from ops.shared.results import Result

log = logging.getLogger(__name__)
NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
TOO_BIG = frozenset({"invalid_blocks", "msg_too_long", "invalid_arguments"})


@dataclass(frozen=True, slots=True)
class Refused:
    """Slack would not take a message; `error` is its error code."""

    error: str


def summary(text: str) -> str:
    """Plain text that Slack shows whatever it holds: whole lines, then how many were left."""
    return "\n".join(fit_lines(text.splitlines(), SECTION_LIMIT))


def explanation(error: str, channel: str, text: str, then: str = "") -> str:
    """Why Slack did not show `text`, what happened then, and (if it was too big) a summary."""
    if error in NOT_A_MEMBER:
        head, body = messages.SLACK_NOT_IN_CHANNEL.format(channel=channel), ""
    elif error in TOO_BIG:
        head, body = messages.SLACK_TOO_LONG, summary(text)
    else:
        head, body = messages.SLACK_REFUSED.format(error=error), ""
    return "\n".join(filter(None, [" ".join(filter(None, [head, then])), body]))


class Replies:
    def __init__(self, client: Any, response_url: str | None) -> None:
        self.client = client
        # The response_url is retried on connection errors, 5xx and 429 (it takes one message
        # per request and Slack drops a repeat of it, so a retry cannot double a reply).
        self.webhook = (
            AsyncWebhookClient(
                response_url,
                retry_handlers=[
                    AsyncConnectionErrorRetryHandler(),
                    AsyncServerErrorRetryHandler(max_retry_count=2),
                    AsyncRateLimitErrorRetryHandler(max_retry_count=2),
                ],
            )
            if response_url
            else None
        )

    async def _respond(self, **message: Any) -> bool:
        if self.webhook is None:
            log.warning("no response_url to answer with: %s", message.get("text", "")[:200])
            return False
        response = await self.webhook.send(**message)
        if response.status_code != 200:
            log.warning("response_url refused a reply: %s %s", response.status_code, response.body)
        return response.status_code == 200

    async def say(self, text: str) -> None:
        """A private line to the person who asked or clicked."""
        await self._respond(text=summary(text), response_type="ephemeral", replace_original=False)

    async def answer(self, result: Result, in_channel: bool) -> None:
        """A command's answer; if Slack refuses its blocks, the same answer as plain text."""
        fallback, blocks = result_message(result)
        kind = "in_channel" if in_channel else "ephemeral"
        if not await self._respond(text=fallback, blocks=blocks, response_type=kind):
            text = f"{messages.SLACK_TOO_LONG}\n{summary(render(result))}"
            await self._respond(text=text, response_type=kind, replace_original=False)

    async def post(
        self, channel: str, text: str, blocks: list[BlockDict], thread_ts: str | None = None
    ) -> str | Refused:
        """chat.postMessage: the new message's ts, or what Slack refused it with."""
        try:
            posted = await self.client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, thread_ts=thread_ts
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
            log.warning("chat.postMessage to %s refused: %s", channel, error)
            return Refused(error)
        return str(posted["ts"])

    async def update(self, channel: str, ts: str, text: str, blocks: list[BlockDict]) -> bool:
        """chat.update; if Slack refuses it (the message was deleted, say), `text` goes to the
        clicker instead. True when the message itself was updated."""
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as exc:
            log.warning("chat.update of %s refused: %s", ts, exc.response.get("error"))
            await self.say(text)
            return False
        return True

    async def explain(self, refused: Refused, channel: str, text: str, then: str = "") -> None:
        """Tell the user, privately, why Slack did not show `text` (and what happened then)."""
        await self.say(explanation(refused.error, channel, text, then))
