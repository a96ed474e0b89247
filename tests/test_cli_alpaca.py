"""`tradebot run` on Alpaca, as an operator starts it: keys in the environment, URLs pointing at
the loopback Alpaca, Slack connected. Start-up recovery and the live-trading warning must reach
Slack, and no key may reach the output, the journal or Slack."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.alpaca import AlpacaFake
from tests.fakes.slack import SlackFake
from tests.support import eventually, journal_bytes, spawn_tradebot, stop_tradebot, write_config

SECRET = "secret-test"


async def test_a_live_alpaca_start_recovers_the_broker_position_and_says_so(
    tmp_path: Path,
) -> None:
    async with SlackFake() as slack, AlpacaFake() as alpaca:
        alpaca.positions["SPY"] = (10, 500.0)  # held before this process ever ran
        alpaca.prices["SPY"] = 501.0
        config = write_config(
            tmp_path,
            **{
                "broker.name": "alpaca",
                "broker.paper": False,
                "strategy.symbols": ["SPY", "QQQ"],
                "slack.operators": ["U1"],
                "slack.channel": "C1",
                "slack.alerts_channel": "C2",
            },
        )
        proc = await spawn_tradebot(
            config,
            ALPACA_API_KEY="PKTEST",
            ALPACA_SECRET_KEY=SECRET,
            ALPACA_TRADING_URL=alpaca.trading_url,
            ALPACA_TRADING_STREAM_URL=alpaca.trading_stream_url,
            ALPACA_DATA_STREAM_URL=alpaca.data_stream_url,
            ALPACA_DATA_URL=alpaca.data_url,
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_APP_TOKEN="xapp-test",
            SLACK_API_URL=slack.api_url,
        )

        def alerts_text() -> str:
            return "\n".join(m.text for m in slack.messages.values() if m.channel == "C2")

        try:
            await slack.wait_connected(1, within=30)
            await eventually(lambda: "recovered at start-up" in alerts_text(), within=10)
            assert "LIVE TRADING" in alerts_text()
            # the journal never saw it: the operator's, with an incident naming the command
            assert "NOT the bot's, held for the operator: SPY +10 @ 500.00" in alerts_text()
            await eventually(lambda: "/trade adopt SPY" in alerts_text(), within=10)
            envelope = await slack.send_slash_command("positions", user_id="U1", channel_id="C1")
            await envelope.acked()
            await eventually(lambda: slack.responses, within=10)
            assert "SPY" in slack.responses[0]["text"]
            assert alpaca.trading_connections >= 1 and alpaca.data_connections >= 1
        finally:
            out, err = await stop_tradebot(proc)
        assert proc.returncode == 0, err.decode()
        assert b"LIVE TRADING" in err
        everything = out + err + journal_bytes(tmp_path) + str(slack.calls).encode()
        assert SECRET.encode() not in everything
        assert b"xoxb-test" not in out + err + journal_bytes(tmp_path)
