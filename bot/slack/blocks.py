"""Block Kit rendering of command results, with the console's text as the fallback.

Blocks are built with `slack_sdk.models.blocks`, whose `to_dict()` validates them, and every view
is cut to Block Kit's limits here (section text, blocks per message), so Slack never answers
`invalid_blocks` to something we built.
"""

from __future__ import annotations

import time
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.render_text import render
from ops.shared import messages
from ops.shared.results import ConfirmRequest, KillReport, Result

BlockDict = dict[str, Any]
SECTION_LIMIT = 3000  # characters in a section's text
MAX_BLOCKS = 50  # blocks in one message
MAX_TEXT = 3000  # our cap on a message's fallback text (Slack's own limit is 40,000)
CODE_FENCE = 6  # the ``` around a code section


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_LIMIT)))


def fit_lines(lines: list[str], limit: int) -> list[str]:
    """Whole lines (each clipped to `limit`) in order while they fit in `limit` characters
    joined; the rest become one "... and K more" line."""
    kept: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        line = clip(line, limit)
        more = messages.SLACK_MORE_LINES.format(count=len(lines) - i)
        room = limit - len(more) - 1 if i < len(lines) - 1 else limit
        if used + len(line) + 1 > room:
            return [*kept, more]
        kept.append(line)
        used += len(line) + 1
    return kept


def code_chunks(text: str, budget: int = SECTION_LIMIT - CODE_FENCE) -> list[str]:
    """Escaped text cut on line boundaries into chunks of at most `budget` characters."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.splitlines():
        line = clip(escape(line), budget)
        if size + len(line) + 1 > budget and current:
            chunks.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        chunks.append("\n".join(current))
    return chunks


def code_sections(text: str, room: int = MAX_BLOCKS) -> list[BlockDict]:
    """Monospaced sections of at most `room` blocks; what does not fit is counted, not sent."""
    chunks = code_chunks(text)
    if len(chunks) > room:
        shown = chunks[: room - 1]
        left = sum(chunk.count("\n") + 1 for chunk in chunks[room - 1 :])
        tail = [section(messages.SLACK_MORE_LINES.format(count=left))]
    else:
        shown, tail = chunks, []
    return dicts([*(section(f"```{chunk}```") for chunk in shown), *tail])


def dicts(blocks: list[Block]) -> list[BlockDict]:
    """Validated JSON-ready blocks (slack_sdk raises if one is past a limit)."""
    return [block.to_dict() for block in blocks]


def result_message(result: Result) -> tuple[str, list[BlockDict]]:
    """(fallback text, blocks) for any result."""
    text = render(result)
    fallback = clip(text, MAX_TEXT)
    if isinstance(result, ConfirmRequest):
        return fallback, confirm_blocks(result)
    if isinstance(result, KillReport):
        head = "*KILL complete: flat*" if result.flat else "*:rotating_light: KILL: NOT FLAT*"
        return fallback, [*dicts([section(head)]), *code_sections(text, MAX_BLOCKS - 1)]
    return fallback, code_sections(text)


def confirm_blocks(request: ConfirmRequest, preview: str = "") -> list[BlockDict]:
    """The request, then its backtest preview (or that one is coming) in monospace, then who
    asked and the buttons."""
    seconds = max(0, round(request.expires_at - time.time()))
    danger = request.kind == "kill"
    title = clip(f"*{escape(request.title)}*", SECTION_LIMIT // 4)
    lines = fit_lines([f"• {escape(line)}" for line in request.lines], SECTION_LIMIT - len(title))
    blocks = dicts(
        [
            section("\n".join([title, *lines])),
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=f"asked by <@{request.requester}> · expires in {seconds} s"
                    )
                ]
            ),
            ActionsBlock(
                block_id="confirmation",
                elements=[
                    ButtonElement(
                        action_id="confirm",
                        text=PlainTextObject(text="Confirm KILL" if danger else "Confirm"),
                        value=request.nonce,
                        style="danger" if danger else "primary",
                    ),
                    ButtonElement(
                        action_id="cancel", text=PlainTextObject(text="Cancel"), value=request.nonce
                    ),
                ],
            ),
        ]
    )
    if preview:
        blocks[1:1] = code_sections(preview, MAX_BLOCKS - len(blocks))
    return blocks


def outcome_blocks(title: str, detail: str, who: str | None) -> list[BlockDict]:
    """The confirmation message after the fact: what happened and who did it (no buttons)."""
    room = MAX_BLOCKS - 1 - (who is not None)
    blocks = [
        *dicts([section(f"*{escape(title)}*")]),
        *(code_sections(detail, room) if detail else []),
    ]
    if who is not None:
        blocks += dicts([ContextBlock(elements=[MarkdownTextObject(text=f"by <@{who}>")])])
    return blocks
