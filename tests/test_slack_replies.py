"""Never lose a command: through the REAL Slack clients, a Slack API failure on the reply path
falls back to the response_url, and every view fits Block Kit's limits by construction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.slack.blocks import result_message
from ops.shared.results import HelpResult
from strategy.types import BrokerPosition
from strategy.venues.sim import SimBroker
from tests.fakes.slack import block_kit_errors
from tests.slack_rig import Rig, start_rig
from tests.support import bar, eventually

POSITIONS = 116


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    slack, h, surface = await start_rig(tmp_path, **{"slack.allowed_channels": ["C1", "C7"]})
    yield Rig(slack, h, surface)
    await surface.stop()
    await h.service.stop()
    await slack.__aexit__()


async def reply(rig: Rig, text: str, channel: str = "C1") -> dict[str, object]:
    """Send /trade <text>; wait for the ack, then for the response_url post."""
    before = len(rig.slack.responses)
    envelope = await rig.slack.send_slash_command(text, channel_id=channel)
    await envelope.acked()
    await eventually(lambda: len(rig.slack.responses) > before)
    return rig.slack.responses[before]


def outcomes(rig: Rig) -> list[tuple[object, object]]:
    rig.h.journal.flush()
    return [(r["command"], r["outcome"]) for r in rig.h.journal.query("select * from commands")]


async def test_kill_in_a_channel_without_the_bot_is_answered_and_withdrawn(rig: Rig) -> None:
    """chat.postMessage says not_in_channel: the command is acked, the user is told to invite
    the bot, and no kill is left pending behind a message nobody can see."""
    rig.slack.channels_without_bot.add("C7")
    answer = await reply(rig, "kill", channel="C7")
    assert "invite @tradebot to <#C7>" in str(answer["text"])
    assert answer["response_type"] == "ephemeral"
    assert ("kill", "withdrawn") in outcomes(rig)
    rig.h.wall.t += 3600
    assert rig.h.core.expire() == []


async def test_a_chart_the_bot_cannot_upload_is_explained(rig: Rig) -> None:
    """/trade pnl in a channel without the bot: the figures arrive, and instead of the chart
    the user is told to invite the bot."""
    rig.slack.channels_without_bot.add("C7")
    await rig.h.push(*(bar("SPY", i, 100.0 + (i % 3) * 0.1) for i in range(30)))
    answer = await reply(rig, "pnl", channel="C7")
    assert "P&L" in str(answer["text"])
    await eventually(lambda: "invite @tradebot to <#C7>" in str(rig.slack.responses[-1]["text"]))


async def test_a_confirmation_slack_refuses_is_withdrawn_with_a_summary(rig: Rig) -> None:
    """chat.postMessage says invalid_blocks: the user gets the confirmation's text as a summary
    and the pending change is withdrawn."""
    rig.slack.fail_next("chat.postMessage", error="invalid_blocks")
    answer = await reply(rig, "set entry_z 2.2")
    assert str(answer["text"]).startswith("Slack would not show that")
    assert "set entry_z: 2 -> 2.2" in str(answer["text"])
    assert ("set", "withdrawn") in outcomes(rig)


async def test_a_refused_response_falls_back_to_plain_text(rig: Rig) -> None:
    """The response_url refuses the blocks: the answer is sent again as text, so it arrives."""
    rig.slack.fail_next("response_url", status=400, error="invalid_blocks")
    answer = await reply(rig, "status")
    assert "blocks" not in answer and "MeanReversionV1 on sim" in str(answer["text"])
    assert str(answer["text"]).startswith("Slack would not show that")


class ManyPositions(SimBroker):
    """A broker holding POSITIONS symbols, position i worth (i + 1) * $1,000."""

    async def positions(self) -> list[BrokerPosition]:
        return [BrokerPosition(f"S{i:03d}", 10 * (i + 1), 100.0, 100.0) for i in range(POSITIONS)]


async def test_kill_with_many_positions_lists_the_biggest_then_totals(rig: Rig) -> None:
    """116 positions: the confirmation fits Slack (it used to be invalid_blocks) and shows the
    biggest positions first, how many more, and the totals."""
    rig.h.swap_broker(ManyPositions)
    message = await rig.request("kill")
    text = message.blocks[0]["text"]["text"]
    assert block_kit_errors(message.blocks) == []
    assert text.index("close S115") < text.index("close S114")
    assert "S000" not in text
    assert f"and {POSITIONS - 20} more position(s)" in text
    total = sum(1000 * (i + 1) for i in range(POSITIONS))
    assert f"{POSITIONS} position(s), gross ${total:,.2f}" in text


def test_any_result_fits_block_kit() -> None:
    """A result far past Slack's limits renders within them: at most 50 blocks, every section
    under 3,000 characters, and a line that says what was left out."""
    lines = tuple(f"line {i} <&> " + "x" * 180 for i in range(3000))
    fallback, blocks = result_message(HelpResult(lines))
    assert block_kit_errors(blocks) == []
    assert len(fallback) <= 40_000
    assert "more line(s) not shown" in blocks[-1]["text"]["text"]
