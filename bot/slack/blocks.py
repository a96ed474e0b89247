"""Block Kit rendering of command results, with the console's text as the fallback."""

from __future__ import annotations

import time
from typing import Any

from bot.render_text import render
from ops.results import ConfirmRequest, KillReport, Result

Block = dict[str, Any]
SECTION_LIMIT = 2900  # Slack allows 3000 characters in a section's text


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code_sections(text: str) -> list[Block]:
    """Monospaced sections, split on line boundaries to stay under Slack's limit."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines():
        if len(current) + len(line) + 1 > SECTION_LIMIT and current:
            chunks.append(current)
            current = ""
        current += line + "\n"
    if current:
        chunks.append(current)
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"```{escape(c.rstrip())}```"}}
        for c in chunks
    ]


def result_message(result: Result) -> tuple[str, list[Block]]:
    """(fallback text, blocks) for any result."""
    text = render(result)
    if isinstance(result, ConfirmRequest):
        return text, confirm_blocks(result)
    if isinstance(result, KillReport):
        head = "*KILL complete: flat*" if result.flat else "*:rotating_light: KILL: NOT FLAT*"
        return text, [
            {"type": "section", "text": {"type": "mrkdwn", "text": head}},
            *code_sections(text),
        ]
    return text, code_sections(text)


def confirm_blocks(request: ConfirmRequest) -> list[Block]:
    seconds = max(0, round(request.expires_at - time.time()))
    danger = request.kind == "kill"
    confirm: Block = {
        "type": "button",
        "action_id": "confirm",
        "text": {"type": "plain_text", "text": "Confirm KILL" if danger else "Confirm"},
        "value": request.nonce,
        "style": "danger" if danger else "primary",
    }
    cancel: Block = {
        "type": "button",
        "action_id": "cancel",
        "text": {"type": "plain_text", "text": "Cancel"},
        "value": request.nonce,
    }
    lines = "\n".join(f"• {escape(line)}" for line in request.lines)
    return [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*{escape(request.title)}*\n{lines}"},
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"asked by <@{request.requester}> · expires in {seconds} s",
                }
            ],
        },
        {"type": "actions", "block_id": "confirmation", "elements": [confirm, cancel]},
    ]


def outcome_blocks(title: str, detail: str, who: str | None) -> list[Block]:
    """The confirmation message after the fact: what happened and who did it (no buttons)."""
    blocks: list[Block] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(title)}*"}},
        *(code_sections(detail) if detail else []),
    ]
    if who is not None:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"by <@{who}>"}]})
    return blocks
