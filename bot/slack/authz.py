"""Who may do what, where: a pure decision the Bolt middleware applies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ops.config.settings import Settings
from ops.control.parsing import parse_command
from ops.shared.results import CommandError

CHANGES = frozenset(
    {
        "set",
        "reset",
        "pause",
        "resume",
        "kill",
        "confirm",
        "cancel",
        "adopt",
        "cancel-order",
        "ack",
        "resolve",
        "test-alert",
    }
)


# Buttons on incident messages (and the confirmations they open) work in the alerts channel.
ALERT_BUTTONS = frozenset({"ack", "adopt", "confirm", "cancel"})
# The buttons the middleware authorizes (action_id -> the command it amounts to). A button not
# listed here passes through the middleware untouched.
BUTTONS = {"confirm": "confirm", "cancel": "cancel", "ack": "ack", "adopt": "adopt"}
SLASH_COMMAND = "/trade"
# An unparsable command reaches the command core (which answers with the usage and audits it)
# only for someone who may read here.
UNPARSED = "help"


@dataclass(frozen=True, slots=True)
class Asked:
    """What a Slack request asks to do: who, where, which command, and the text to audit."""

    user: str
    channel: str
    action: str
    text: str


def classify(body: Mapping[str, Any]) -> Asked | None:
    """The request in a slash command or button body; None for anything else."""
    if body.get("command") == SLASH_COMMAND:
        text = str(body.get("text", ""))
        try:
            action = parse_command(text).name
        except CommandError:
            action = UNPARSED
        return Asked(str(body["user_id"]), str(body["channel_id"]), action, text)
    if body.get("type") != "block_actions" or not body.get("actions"):
        return None
    button = body["actions"][0]
    action = BUTTONS.get(str(button.get("action_id", "")))
    if action is None:
        return None
    channel = (body.get("channel") or {}).get("id") or body.get("container", {}).get(
        "channel_id", ""
    )
    text = action if action in ("confirm", "cancel") else f"{action} {button.get('value', '')}"
    return Asked(str(body["user"]["id"]), str(channel), action, text)


@dataclass(frozen=True, slots=True)
class Policy:
    operators: frozenset[str]
    viewers: frozenset[str]  # empty = anyone in an allowed channel may read
    allowed_channels: frozenset[str]  # empty = any channel
    alerts_channel: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        def ids(path: str) -> frozenset[str]:
            return frozenset(settings.strings(path))

        return cls(
            ids("slack.operators"),
            ids("slack.viewers"),
            ids("slack.allowed_channels"),
            settings.text("slack.alerts_channel"),
        )

    def channel_allowed(self, channel: str, action: str) -> bool:
        if not self.allowed_channels or channel in self.allowed_channels:
            return True
        return (
            action in ALERT_BUTTONS and bool(self.alerts_channel) and channel == self.alerts_channel
        )


def decide(policy: Policy, user: str, channel: str, action: str) -> str | None:
    """None when allowed; otherwise the refusal to show. `action` is a command name."""
    if not policy.channel_allowed(channel, action):
        return "this channel is not allowed to operate tradebot; use one of the configured channels"
    if action in CHANGES:
        if not policy.operators:
            return "no operators are configured (slack.operators), so nobody may change anything"
        if user not in policy.operators:
            return f"<@{user}> is not an operator: `{action}` needs an operator (slack.operators)"
        return None
    if policy.viewers and user not in policy.viewers and user not in policy.operators:
        return f"<@{user}> is not a viewer (slack.viewers)"
    return None
