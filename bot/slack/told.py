"""Replies for requests without a response_url (App Home clicks, modal submissions): what
would be said privately is kept, for the caller to show its own way (the tab, an ephemeral)."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.slack.replies import Replies

log = logging.getLogger(__name__)


class Told(Replies):
    def __init__(self, client: Any) -> None:
        super().__init__(client, None)
        self.lines: list[str] = []

    async def say(self, text: str) -> None:
        self.lines.append(text)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


async def tell_privately(client: Any, channel: str, user: str, text: str) -> None:
    """An ephemeral message to `user` in `channel`; if Slack refuses even that, a log line."""
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=text)
    except SlackApiError as exc:
        log.warning(
            "could not tell %s in %s (%s): %s", user, channel, exc.response.get("error"), text
        )
