"""The Slack rig: the REAL slack_bolt / slack_sdk surface over a simulated service, talking
to the loopback Slack; `rig` (tests/conftest.py) is a running one for a test."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.slack.surface import SlackSurface
from tests.fakes.slack import Message, SlackFake
from tests.support import Harness, eventually, make_harness

OPERATORS = ["U1", "U2"]


async def slash_command(slack: SlackFake, text: str, user: str, channel: str) -> dict[str, Any]:
    """Send /trade <text>; return what respond() sent to the response_url."""
    before = len(slack.responses)
    envelope = await slack.send_slash_command(text, user_id=user, channel_id=channel)
    await envelope.acked()
    await eventually(lambda: len(slack.responses) > before)
    return slack.responses[before]


@dataclass
class Rig:
    slack: SlackFake
    h: Harness
    surface: SlackSurface
    nonces: dict[str, str] = field(default_factory=dict)

    async def command(self, text: str, user: str = "U1", channel: str = "C1") -> dict[str, Any]:
        return await slash_command(self.slack, text, user, channel)

    async def request(self, text: str, user: str = "U1") -> Message:
        """Send a command that asks for confirmation; return the posted message."""
        before = set(self.slack.messages)
        envelope = await self.slack.send_slash_command(text, user_id=user)
        await envelope.acked()
        await eventually(lambda: set(self.slack.messages) - before)
        (ts,) = set(self.slack.messages) - before
        self.nonces[ts] = nonce(self.slack.messages[ts])
        return self.slack.messages[ts]

    async def click(self, message: Message, action: str, user: str = "U1") -> None:
        """Press a button of the message as it was first posted (the nonce is remembered)."""
        edits, responses = message.edits, len(self.slack.responses)
        value = self.nonces[message.ts]
        envelope = await self.slack.send_block_action(message.ts, action, value, user)
        await envelope.acked()
        await eventually(lambda: message.edits > edits or len(self.slack.responses) > responses)


def nonce(message: Message) -> str:
    actions = next(b for b in message.blocks if b["type"] == "actions")
    return str(actions["elements"][0]["value"])


async def start_rig(tmp_path: Path, **config: object) -> tuple[SlackFake, Harness, SlackSurface]:
    slack = SlackFake()
    await slack.__aenter__()
    config.setdefault("slack.operators", OPERATORS)
    config.setdefault("slack.allowed_channels", ["C1"])
    config.setdefault("monitoring.alert_repeat_sec", 0)
    h = make_harness(
        tmp_path,
        **{
            "slack.api_url": slack.api_url,
            "slack.channel": "C1",
            "slack.alerts_channel": "C2",
            "kill.poll_sec": 0.01,
            **config,
        },
    )
    surface = SlackSurface(h.core, "xoxb-test", "xapp-test")
    await h.service.start()
    await surface.start()
    await slack.wait_connected(1)
    return slack, h, surface
