"""Honest confirmations through the REAL Slack clients and the loopback Slack: a message changes
only after its click is accepted, Cancel is authorized like Confirm, every refusal is audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from strategy.types import TradingState
from tests.fakes.slack import Message
from tests.slack_rig import Rig, start_rig
from tests.support import eventually


@pytest.fixture
async def four_eyes(tmp_path: Path) -> AsyncIterator[Rig]:
    slack, h, surface = await start_rig(tmp_path, **{"slack.four_eyes": True})
    yield Rig(slack, h, surface)
    await surface.stop()
    await h.service.stop()
    await slack.__aexit__()


def confirmable(message: Message) -> bool:
    return message.edits == 0 and any(b["type"] == "actions" for b in message.blocks)


def audit(rig: Rig) -> list[dict[str, object]]:
    rig.h.journal.flush()
    return rig.h.journal.query("select user, command, outcome, detail from commands order by id")


@pytest.mark.parametrize(
    ("four_eyes_on", "refused", "allowed"), [(True, "U1", "U2"), (False, "U2", "U1")]
)
async def test_a_refused_kill_click_leaves_the_message_confirmable(
    tmp_path: Path, four_eyes_on: bool, refused: str, allowed: str
) -> None:
    """A refused Confirm of a kill tells only the clicker why; the message is untouched and
    the rightful operator can still confirm it."""
    slack, h, surface = await start_rig(tmp_path, **{"slack.four_eyes": four_eyes_on})
    rig = Rig(slack, h, surface)
    try:
        message = await rig.request("kill")
        await rig.click(message, "confirm", user=refused)
        answer = slack.responses[-1]
        assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
        assert "different operator" in answer["text"] or "only <@U1>" in answer["text"]
        assert confirmable(message) and "confirmed" not in message.text
        assert h.service.gate.state is TradingState.ACTIVE

        await rig.click(message, "confirm", user=allowed)
        await eventually(lambda: h.service.gate.state is TradingState.HALTED)
        await eventually(lambda: message.text.startswith("KILL: FLAT"))
    finally:
        await surface.stop()
        await h.service.stop()
        await slack.__aexit__()


async def test_a_kill_goes_ahead_when_its_message_was_deleted(rig: Rig) -> None:
    """Editing the confirmation fails (message_not_found): the kill still runs and its report
    reaches the clicker through the response_url."""
    message = await rig.request("kill")
    rig.slack.delete_message(message.ts)
    await rig.click(message, "confirm")
    await eventually(lambda: rig.h.service.gate.state is TradingState.HALTED)
    await eventually(lambda: any("KILL" in r["text"] for r in rig.slack.responses))


async def test_with_four_eyes_a_non_operator_cannot_cancel_a_kill(four_eyes: Rig) -> None:
    """Cancel needs an operator: U9's click is refused privately and audited, the kill stays
    confirmable and another operator confirms it."""
    rig = four_eyes
    message = await rig.request("kill")
    await rig.click(message, "cancel", user="U9")
    assert "is not an operator" in rig.slack.responses[-1]["text"]
    assert confirmable(message)
    assert {"user": "U9", "outcome": "unauthorized"}.items() <= audit(rig)[-1].items()
    await rig.click(message, "confirm", user="U2")
    await eventually(lambda: rig.h.service.gate.state is TradingState.HALTED)


async def test_with_four_eyes_another_operator_may_cancel(four_eyes: Rig) -> None:
    """The requester or another operator may cancel; the message then says who did."""
    message = await four_eyes.request("set entry_z 2.2")
    await four_eyes.click(message, "cancel", user="U2")
    assert message.text == "Cancelled by U2; nothing changed."
    assert four_eyes.h.service.engine.params.entry_z == 2.0


async def test_a_refused_cancel_is_audited(rig: Rig) -> None:
    """Without four_eyes only the requester may cancel; another operator's Cancel is refused,
    leaves the message alone and leaves an audit row."""
    message = await rig.request("set entry_z 2.2")
    await rig.click(message, "cancel", user="U2")
    assert "only <@U1>" in rig.slack.responses[-1]["text"]
    assert confirmable(message)
    row = audit(rig)[-1]
    assert row["user"] == "U2" and row["command"] == "cancel" and row["outcome"] == "refused"


@pytest.mark.parametrize("text", ["launch", "", "   ", "p&l!", "trade"])
async def test_unknown_and_empty_commands_are_audited(rig: Rig, text: str) -> None:
    """A command that cannot be parsed is answered with the usage and leaves an audit row."""
    answer = await rig.command(text)
    assert "usage:" in answer["text"]
    row = audit(rig)[-1]
    assert row["user"] == "U1" and row["command"] == text and row["outcome"] == "refused"


async def test_expiry_and_cancel_are_audited(rig: Rig) -> None:
    """A confirmation that runs out and one that is cancelled each leave a row."""
    first = await rig.request("set entry_z 2.2")
    await rig.click(first, "cancel")
    await rig.request("set exit_z 0.4")
    rig.h.wall.t += 301
    await rig.surface.listeners.expire(rig.surface.client)
    outcomes = [(r["command"], r["outcome"]) for r in audit(rig)]
    assert ("cancel set", "ok") in outcomes and ("set", "expired") in outcomes
