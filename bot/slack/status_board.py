"""One status message kept current with chat.update (not a new post every minute), and a
daily summary."""

from __future__ import annotations

import logging
from typing import Any

from bot.render_text import render
from bot.slack.blocks import code_sections
from ops.commands import CommandCore

log = logging.getLogger(__name__)


class StatusBoard:
    def __init__(self, client: Any, channel: str, core: CommandCore) -> None:
        self._client = client
        self._channel = channel
        self._core = core
        self.ts: str | None = None

    async def update(self) -> None:
        text = render(self._core.queries.status())
        blocks = code_sections(text)
        if self.ts is not None:
            response = await self._client.chat_update(
                channel=self._channel, ts=self.ts, text=text, blocks=blocks
            )
            if response.get("ok"):
                return
        posted = await self._client.chat_postMessage(
            channel=self._channel, text=text, blocks=blocks
        )
        self.ts = posted["ts"]

    async def daily_summary(self) -> None:
        pnl = await self._core.queries.pnl("today")
        text = "Daily summary\n" + render(pnl) + "\n" + render(self._core.queries.slippage())
        await self._client.chat_postMessage(
            channel=self._channel, text=text, blocks=code_sections(text)
        )
