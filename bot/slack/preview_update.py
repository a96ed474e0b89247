"""A `set`'s backtest preview put into its confirmation message when it is ready
(chat.update), long after the command was acked. Only while the message still waits for a
click: a Confirm or Cancel that came first is never undone by a late preview."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from bot.render_text import render
from bot.slack.blocks import MAX_TEXT, BlockDict, clip, confirm_blocks
from bot.slack.replies import Replies
from ops.control.preview import Ticket
from ops.shared.results import ConfirmRequest


def pending_blocks(request: ConfirmRequest, ticket: Ticket | None) -> tuple[str, list[BlockDict]]:
    """(fallback, blocks) of a confirmation first posted, saying a preview is on its way."""
    note = ticket.pending if ticket is not None else ""
    return clip("\n".join(filter(None, [render(request), note])), MAX_TEXT), confirm_blocks(
        request, note
    )


async def show_when_ready(
    replies: Replies,
    where: tuple[str, str],  # (channel, ts) of the posted confirmation
    request: ConfirmRequest,
    ticket: Ticket,
    waiting: Callable[[], bool],
    edits: asyncio.Lock,
) -> None:
    """Await the preview; if the message still waits for a click (`waiting()`), show it
    there. `edits` is held by whoever else changes the message, so no edit overtakes another."""
    preview = await ticket.task
    text = "\n".join(preview.lines)
    async with edits:
        if not waiting():
            return
        fallback = clip(f"{render(request)}\n{text}", MAX_TEXT)
        await replies.update(*where, fallback, confirm_blocks(request, text))


class PreviewEdits:
    """The previews on their way into posted confirmations (by message ts), and a lock per
    message, so that closing it (a click, a cancel, expiry) and a late preview never cross."""

    def __init__(self, spawn: Callable[[str, Coroutine[Any, Any, Any]], object]) -> None:
        self._spawn = spawn
        self._tickets: dict[str, Ticket] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def show(
        self,
        replies: Replies,
        where: tuple[str, str],
        request: ConfirmRequest,
        ticket: Ticket,
        waiting: Callable[[], bool],
    ) -> None:
        ts = where[1]
        self._tickets[ts] = ticket
        edits = self._locks.setdefault(ts, asyncio.Lock())
        self._spawn(
            f"preview-update:{ts}", show_when_ready(replies, where, request, ticket, waiting, edits)
        )

    @asynccontextmanager
    async def closing(self, ts: str) -> AsyncIterator[None]:
        """Held while message `ts` is closed: its preview stops, and one being put in is
        finished first (then `waiting()`, false by now, keeps any later one out)."""
        ticket = self._tickets.pop(ts, None)
        if ticket is not None:
            ticket.task.cancel()
        async with self._locks.pop(ts, None) or asyncio.Lock():
            yield
