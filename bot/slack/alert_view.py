"""What an alert looks like in Slack: an incident's root, the drop report, texts cut to fit."""

from __future__ import annotations

from typing import Any, Protocol

from bot.slack.blocks import SECTION_LIMIT, escape
from ops.service.reconcile import INCIDENT_PREFIX as RECONCILE_PREFIX
from ops.shared import messages

ICONS = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}
DROPPED = (
    "{count} alert update(s) were not posted while Slack was unreachable (the queue keeps "
    "{limit}, newest per incident); the journal's alerts table has every one"
)


class ShownIncident(Protocol):
    """What an incident's root shows (bot.slack.alerts.Incident)."""

    key: str
    severity: str
    message: str
    acknowledged_by: str | None


def fit(head: str, message: str, tail: str = "", limit: int = SECTION_LIMIT) -> str:
    """head + the message, escaped, + tail in at most `limit` characters: a message that does
    not fit is cut (never inside an escape) and says how much of it the journal has beyond."""
    body = escape(message)
    room = limit - len(head) - len(tail)
    if len(body) <= room:
        return head + body + tail
    room -= len(messages.SLACK_SHORTENED.format(count=len(message)))
    kept = used = 0
    for char in message:
        used += len(escape(char))
        if used > room:
            break
        kept += 1
    shortened = messages.SLACK_SHORTENED.format(count=len(message) - kept)
    return head + escape(message[:kept]) + shortened + tail


def root_text(incident: ShownIncident) -> str:
    here = "<!here> " if incident.severity == "critical" else ""
    icon = ICONS.get(incident.severity, ":warning:")
    taken = f" (acknowledged by <@{incident.acknowledged_by}>)" if incident.acknowledged_by else ""
    return fit(f"{here}{icon} `{incident.key}` ", incident.message, taken)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def root_blocks(incident: ShownIncident, text: str) -> list[dict[str, Any]]:
    """The incident, with Acknowledge until someone has, and for a reconciliation
    mismatch a button that asks to adopt the broker's position (confirmed like a set)."""
    buttons = []
    if incident.acknowledged_by is None:
        buttons.append(_button("ack", "Acknowledge", incident.key))
    if incident.key.startswith(RECONCILE_PREFIX):
        symbol = incident.key.removeprefix(RECONCILE_PREFIX)
        buttons.append(_button("adopt", f"Adopt broker's {symbol}", symbol))
    blocks = [section(text)]
    if buttons:
        blocks.append({"type": "actions", "block_id": "incident", "elements": buttons})
    return blocks


def _button(action_id: str, label: str, value: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "value": value,
    }
