"""A `set`'s backtest preview put into its confirmation message when it is ready
(chat.update), long after the command was acked. Only while the message still waits for a
click: a Confirm or Cancel that came first is never undone by a late preview."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

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
