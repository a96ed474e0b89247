"""The "Change settings" modal: one input per settable parameter with its current value,
where it came from and its allowed range; built with slack_sdk.models (which validates)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
)
from slack_sdk.models.views import View

from ops.config.params_registry import BY_PATH
from ops.config.settings import ConfigError, ParamSpec, Settings, parse_value
from ops.shared.results import ConfigResult

CALLBACK_ID = "set_params"
VALUE = "value"  # the action_id of every parameter's input
APPLY_OPEN = "apply_open"
INTRO = (
    "The values you change are checked together now, then each is posted in <#{channel}> with "
    "Confirm / Cancel, exactly like `/trade set`. Nothing changes until it is confirmed."
)
EMPTY = "enter a value (leave the current one to keep it)"
NOTHING = "nothing changed: edit a value first"
TOGETHER = "together with the other values: {error}"


@dataclass(frozen=True, slots=True)
class Change:
    spec: ParamSpec
    text: str  # as typed; the command core parses it again


def set_modal(config: ConfigResult, channel: str, response_url: str | None) -> View:
    blocks: list[Block] = [
        ContextBlock(elements=[MarkdownTextObject(text=INTRO.format(channel=channel))])
    ]
    for line in config.lines:
        if not line.settable:
            continue
        spec = BY_PATH[line.path]
        label = f"{line.short} ({line.path})" if line.short else line.path
        blocks.append(
            InputBlock(
                block_id=line.path,
                label=label,
                element=PlainTextInputElement(action_id=VALUE, initial_value=line.value),
                hint=f"{spec.doc} · now {line.value} from {line.source} · allowed {line.allowed}",
            )
        )
    blocks.append(
        InputBlock(
            block_id=APPLY_OPEN,
            label="Open positions",
            optional=True,
            element=CheckboxesElement(
                action_id=APPLY_OPEN,
                options=[
                    Option(
                        value="open",
                        text="Apply strategy changes to open positions too",
                        description="otherwise they exit under the values they entered with",
                    )
                ],
            ),
        )
    )
    view = View(
        type="modal",
        callback_id=CALLBACK_ID,
        title="Change settings",
        submit="Review changes",
        close="Cancel",
        blocks=blocks,
        private_metadata=json.dumps({"channel": channel, "response_url": response_url}),
    )
    view.validate_json()
    return view


def read_submission(
    values: dict[str, dict[str, Any]], settings: Settings
) -> tuple[list[Change], dict[str, str], bool]:
    """(changes, inline errors by block_id, apply to open positions) from a submitted state.

    Each value is checked the way `/trade set` checks it (type, range, cross-checks against the
    current settings), then all of them together (the cross-checks on the settings they make),
    so each confirmation holds whichever are confirmed, in any order; an unchanged value is not
    a change."""
    changes: list[tuple[Change, object]] = []
    errors: dict[str, str] = {}
    for path, fields in values.items():
        spec = BY_PATH.get(path)
        if spec is None or not spec.hot:
            continue
        text = (fields.get(VALUE, {}).get("value") or "").strip()
        if not text:
            errors[path] = EMPTY
            continue
        try:
            value = parse_value(spec, text)
            if value == settings.get(path):
                continue
            settings.with_override(path, value)
        except ConfigError as exc:
            errors[path] = str(exc)[:1000]
            continue
        changes.append((Change(spec, text), value))
    if not errors:
        errors = _together(settings, changes)
    chosen = values.get(APPLY_OPEN, {}).get(APPLY_OPEN, {}).get("selected_options") or []
    return [change for change, _ in changes], errors, any(o.get("value") == "open" for o in chosen)


def _together(settings: Settings, changes: list[tuple[Change, object]]) -> dict[str, str]:
    """The inline errors of the settings all `changes` make together, under the edited fields
    the failed cross-check is about (under every edited field if it names none of them)."""
    combined = settings
    try:
        for change, value in changes:
            combined = combined.with_override(change.spec.path, value)
    except ConfigError as exc:
        edited = [change.spec.path for change, _ in changes]
        about = [path for path in edited if path in exc.paths] or edited
        return dict.fromkeys(about, TOGETHER.format(error=exc)[:1000])
    return {}


def origin_of(view: dict[str, Any]) -> tuple[str, str | None]:
    """(channel, response_url) the form was opened from, as `set_modal` kept them."""
    origin = json.loads(view.get("private_metadata") or "{}")
    return str(origin.get("channel", "")), origin.get("response_url")
