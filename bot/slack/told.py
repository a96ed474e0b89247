"""Replies for requests without a response_url (App Home clicks, modal submissions): what
would be said privately is kept, for the caller to show its own way (the tab, an ephemeral)."""

from __future__ import annotations

from typing import Any

from bot.slack.replies import Replies


class Told(Replies):
    def __init__(self, client: Any) -> None:
        super().__init__(client, None)
        self.lines: list[str] = []

    async def say(self, text: str) -> None:
        self.lines.append(text)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)
