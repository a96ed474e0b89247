"""The pure halves of Slack authorization: what a request asks (`classify`) and who may cancel."""

from __future__ import annotations

from typing import Any

from bot.slack.authz import Asked, classify
from ops.control.confirm import Pending, may_cancel


def slash(text: str) -> dict[str, Any]:
    return {"command": "/trade", "text": text, "user_id": "U1", "channel_id": "C1"}


def click(action_id: str, value: str = "n") -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": "U2"},
        "channel": {"id": "C2"},
        "container": {"channel_id": "C2"},
        "actions": [{"action_id": action_id, "value": value}],
    }


def test_a_slash_command_asks_for_its_command_and_garbage_needs_only_reading() -> None:
    """`/trade kill` needs what kill needs; an unparsable line needs only the right to read."""
    assert classify(slash("KILL")) == Asked("U1", "C1", "kill", "KILL")
    assert classify(slash("launch rockets")) == Asked("U1", "C1", "help", "launch rockets")
    assert classify(slash("")) == Asked("U1", "C1", "help", "")


def test_known_buttons_are_classified_and_others_pass_through() -> None:
    """Confirm, Cancel and the incident buttons are authorized; any other button is not ours."""
    assert classify(click("cancel")) == Asked("U2", "C2", "cancel", "cancel")
    assert classify(click("adopt", "SPY")) == Asked("U2", "C2", "adopt", "adopt SPY")
    assert classify(click("home_pause")) is None
    assert classify({"type": "event_callback", "event": {}}) is None


async def _apply(user: str) -> Any:
    raise AssertionError("not applied in this test")


def test_cancel_follows_confirm() -> None:
    """The requester may always cancel; others only when they could confirm (four_eyes)."""
    pending = Pending("n", "kill", "U1", "C1", 0.0, 60.0, _apply)
    assert may_cancel(pending, "U1", four_eyes=False) is None
    assert may_cancel(pending, "U1", four_eyes=True) is None
    assert may_cancel(pending, "U2", four_eyes=True) is None
    assert may_cancel(pending, "U2", four_eyes=False) is not None
