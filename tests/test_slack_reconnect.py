"""Socket Mode reconnection through the REAL slack_bolt / slack_sdk clients and the loopback
Slack: sockets dropped without a close frame, and Slack unreachable while reconnecting.
How fast it recovers is a bench figure (bench/reconnect.py), not asserted here."""

from __future__ import annotations

import logging

import pytest

from bot.slack.socket_mode import backoff_delay
from tests.fakes.slack import SlackFake
from tests.slack_rig import Rig
from tests.support import eventually

# Generous: the tuned client needs ~1-2 s; slack_bolt's defaults needed 15-25 s for this.
RECOVERY_BOUND_SEC = 10.0


async def answered(slack: SlackFake) -> str:
    """Send /trade status now (it waits for a live connection); the text it was answered with."""
    before = len(slack.responses)
    envelope = await slack.send_slash_command("status")
    await envelope.acked(within=RECOVERY_BOUND_SEC)
    await eventually(lambda: len(slack.responses) > before)
    return str(slack.responses[before]["text"])


async def test_a_half_open_socket_is_replaced_and_commands_are_answered(rig: Rig) -> None:
    """A socket that goes silent without a close frame or a FIN is found dead by the ping
    timeout and replaced; the command sent meanwhile is answered on the new connection."""
    await rig.slack.drop_without_close_frame(half_open=True)
    assert "ACTIVE" in await answered(rig.slack)
    assert rig.slack.connections_opened == 2
    assert await rig.surface.handler.client.is_connected()


async def test_a_reset_socket_is_replaced_and_commands_are_answered(rig: Rig) -> None:
    """A TCP reset without a close frame: the client reconnects and answers the next command."""
    await rig.slack.drop_without_close_frame(half_open=False)
    assert "ACTIVE" in await answered(rig.slack)
    assert rig.slack.connections_opened == 2


async def test_a_drop_while_slack_is_down_logs_the_http_error_not_an_attribute_error(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """Reconnecting while apps.connections.open answers a plain-text 503 says so (no
    AttributeError from slack_sdk), and reconnects once Slack is back."""
    rig.slack.unreachable = True
    with caplog.at_level(logging.ERROR):
        await rig.slack.drop_connections()
        await eventually(lambda: "apps.connections.open failed: HTTP 503" in caplog.text)
    assert "AttributeError" not in caplog.text
    rig.slack.unreachable = False
    assert "ACTIVE" in await answered(rig.slack)


def test_reconnect_attempts_back_off_up_to_a_cap() -> None:
    """The first attempt is immediate; failed ones wait 1, 2, 4 ... s, never more than 30 s."""
    assert [backoff_delay(n) for n in range(7)] == [0, 1, 2, 4, 8, 16, 30]
    assert backoff_delay(100) == 30
