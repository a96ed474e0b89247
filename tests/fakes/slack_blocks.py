"""What Slack refuses in Block Kit: the documented limits of messages' blocks and of views
(Home tabs, modals), as the loopback Slack (tests/fakes/slack.py) applies them."""

from __future__ import annotations

from typing import Any

# Block Kit's documented limits (https://api.slack.com/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ID = 255
MAX_HEADER_TEXT = 150
MAX_MESSAGE_TEXT = 40000


def block_kit_errors(blocks: list[dict[str, Any]]) -> list[str]:
    """What Slack would say is wrong with these blocks (empty when they are valid)."""
    errors = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        where = f"[json-pointer:/blocks/{i}"
        if len(str(block.get("block_id", ""))) > MAX_ID:
            errors.append(f"block_id too long {where}/block_id]")
        kind = block.get("type")
        text = (block.get("text") or {}).get("text", "")
        if kind == "section":
            if len(text) > MAX_SECTION_TEXT:
                errors.append(f"must be less than {MAX_SECTION_TEXT + 1} characters {where}/text]")
            fields = block.get("fields") or []
            if len(fields) > MAX_SECTION_FIELDS or any(
                len(f.get("text", "")) > MAX_FIELD_TEXT for f in fields
            ):
                errors.append(f"fields past the limits {where}/fields]")
            if not text and not fields:
                errors.append(f"must provide text or fields {where}]")
        elif kind == "header" and len(text) > MAX_HEADER_TEXT:
            errors.append(f"must be less than {MAX_HEADER_TEXT + 1} characters {where}/text]")
        elif kind == "context" and len(block.get("elements") or []) > MAX_CONTEXT_ELEMENTS:
            errors.append(f"no more than {MAX_CONTEXT_ELEMENTS} items allowed {where}/elements]")
        elif kind == "actions":
            elements = block.get("elements") or []
            if len(elements) > MAX_ACTIONS_ELEMENTS:
                errors.append(f"no more than {MAX_ACTIONS_ELEMENTS} items allowed {where}]")
            for element in elements:
                if element.get("type") != "button":
                    continue
                if (
                    len(element.get("text", {}).get("text", "")) > MAX_BUTTON_TEXT
                    or len(str(element.get("value", ""))) > MAX_BUTTON_VALUE
                    or len(str(element.get("action_id", ""))) > MAX_ID
                ):
                    errors.append(f"button past the limits {where}/elements]")
    return errors


MAX_VIEW_BLOCKS = 100
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000


def view_errors(view: dict[str, Any]) -> list[str]:
    """What Slack would say is wrong with a Home tab or modal (empty when valid)."""
    blocks = list(view.get("blocks") or [])
    errors = [e for e in block_kit_errors(blocks) if not e.endswith("[json-pointer:/blocks]")]
    if not 1 <= len(blocks) <= MAX_VIEW_BLOCKS:
        errors.append(f"between 1 and {MAX_VIEW_BLOCKS} items allowed [json-pointer:/view/blocks]")
    for key in ("title", "submit", "close"):
        if len((view.get(key) or {}).get("text", "")) > MAX_VIEW_TITLE:
            errors.append(f"must be less than {MAX_VIEW_TITLE + 1} characters [/view/{key}]")
    if len(view.get("private_metadata") or "") > MAX_PRIVATE_METADATA:
        errors.append("private_metadata too long [json-pointer:/view/private_metadata]")
    if view.get("type") == "modal" and not view.get("title"):
        errors.append("a modal needs a title [json-pointer:/view/title]")
    return errors
