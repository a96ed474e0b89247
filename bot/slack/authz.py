"""Who may do what, where: a pure decision the Bolt middleware applies."""

from __future__ import annotations

from dataclasses import dataclass

from ops.config import Settings

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
