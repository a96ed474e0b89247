"""`tradebot run` with Slack tokens: the composition root connects to (loopback) Slack."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.slack import SlackFake
from tests.support import eventually, journal_bytes, spawn_tradebot, stop_tradebot, write_config


async def test_run_with_tokens_serves_trade_commands_over_socket_mode(tmp_path: Path) -> None:
    """With SLACK_* set, the service answers /trade and posts its status board; SIGTERM stops it."""
    async with SlackFake() as slack:
        config = write_config(
            tmp_path,
            **{"slack.operators": ["U1"], "slack.channel": "C1", "monitoring.heartbeat_sec": 1},
        )
        proc = await spawn_tradebot(
            config,
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_APP_TOKEN="xapp-test",
            SLACK_API_URL=slack.api_url,
        )
        try:
            await slack.wait_connected(1, within=30)
            envelope = await slack.send_slash_command("status", user_id="U1", channel_id="C1")
            await envelope.acked()
            await eventually(lambda: slack.responses, within=10)
            assert "MeanReversionV1 on sim" in slack.responses[0]["text"]
            await eventually(
                lambda: any(m.channel == "C1" for m in slack.messages.values()), within=10
            )
        finally:
            out, err = await stop_tradebot(proc)
        assert proc.returncode == 0, err.decode()
        assert b"stopped after" in out
        assert b"xoxb-test" not in out + err
        journal = journal_bytes(tmp_path)
        assert journal and b"xoxb-test" not in journal and b"xapp-test" not in journal
