"""One status message kept current with chat.update (not a new post every minute), and a
daily summary. A message Slack will not take is a log line (once, until one is taken), never an
error out of the heartbeat; a status message someone deleted is posted anew."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.render_text import render
from bot.slack.blocks import BlockDict, code_sections
from ops.control.commands import CommandCore

log = logging.getLogger(__name__)


class StatusBoard:
    def __init__(self, client: Any, channel: str, core: CommandCore) -> None:
        self._client = client
        self._channel = channel
        self._core = core
        self.ts: str | None = None
        self._refused: str | None = None  # Slack's last error, until a message is taken

    async def update(self) -> None:
        text = render(self._core.queries.status())
        blocks = code_sections(text)
        if self.ts is not None:
            try:
                await self._client.chat_update(
                    channel=self._channel, ts=self.ts, text=text, blocks=blocks
                )
            except SlackApiError as exc:  # deleted, or no longer ours to edit: post anew
                log.debug("status board %s not updated (%s)", self.ts, exc.response.get("error"))
            else:
                self._taken()
                return
        self.ts = await self._post(text, blocks) or self.ts

    async def daily_summary(self) -> None:
        pnl = await self._core.queries.pnl("today")
        text = "Daily summary\n" + render(pnl) + "\n" + render(self._core.queries.slippage())
        await self._post(text, code_sections(text))

    async def _post(self, text: str, blocks: list[BlockDict]) -> str | None:
        """chat.postMessage: the new message's ts, or None when Slack refused it."""
        try:
            posted = await self._client.chat_postMessage(
                channel=self._channel, text=text, blocks=blocks
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
            if error != self._refused:
                log.warning("status board: Slack refused a post to %s: %s", self._channel, error)
            self._refused = error
            return None
        self._taken()
        return str(posted["ts"])

    def _taken(self) -> None:
        if self._refused is not None:
            log.info("status board: Slack takes messages in %s again", self._channel)
        self._refused = None
