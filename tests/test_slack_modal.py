"""The "Change settings" modal through the REAL slack_bolt / slack_sdk clients and the
loopback Slack: `/trade set` alone opens it; a submission is checked, then confirmed."""

from __future__ import annotations

import json
from typing import Any

from ops.config.params_registry import PARAMS
from tests.fakes.slack import view_errors
from tests.slack_rig import Rig, nonce
from tests.support import eventually

HOT = [spec.path for spec in PARAMS if spec.hot]


async def open_form(rig: Rig, user: str = "U1") -> dict[str, Any]:
    """`/trade set` with nothing after it; the modal views.open showed."""
    before = len(rig.slack.opened_views)
    envelope = await rig.slack.send_slash_command("set", user_id=user)
    await envelope.acked()
    await eventually(lambda: len(rig.slack.opened_views) > before)
    return rig.slack.opened_views[-1]


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


async def submit(rig: Rig, view: dict[str, Any], **typed: str) -> dict[str, Any]:
    """Submit the form with `typed` values (by block id, dots as __); the ack's payload."""
    values = {path.replace("__", "."): text for path, text in typed.items()}
    envelope = await rig.slack.send_view_submission(view, "U1", typed=values)
    return await envelope.acked()


async def test_bare_set_opens_the_form_with_every_settable_value(rig: Rig) -> None:
    """`/trade set` alone opens a modal (the command's trigger_id) listing each hot parameter
    with its current value, source and allowed range; nothing is posted in the channel."""
    view = await open_form(rig)
    (call,) = rig.slack.calls_to("views.open")
    assert call.params["trigger_id"].startswith("trigger-") and not view_errors(view)
    fields = inputs(view)
    assert [path for path in fields if path != "apply_open"] == HOT
    entry = fields["strategy.entry_z_threshold"]
    assert entry["label"]["text"] == "entry_z (strategy.entry_z_threshold)"
    assert entry["element"]["initial_value"] == "2"
    assert "now 2 from file · allowed 0.1 .. 10" in entry["hint"]["text"]
    assert json.loads(view["private_metadata"])["channel"] == "C1"
    assert rig.slack.messages == {} and rig.slack.responses == []


async def test_a_bad_value_is_an_inline_error_and_changes_nothing(rig: Rig) -> None:
    """Bad values come back as errors under their fields (response_action: errors); no
    confirmation is posted, nothing changes, and the refusal is audited."""
    view = await open_form(rig)
    answer = await submit(
        rig, view, strategy__entry_z_threshold="lots", strategy__exit_z_threshold="99"
    )
    assert answer["response_action"] == "errors"
    assert answer["errors"] == {
        "strategy.entry_z_threshold": "entry_z: 'lots' is not a number",
        "strategy.exit_z_threshold": "exit_z = 99 is out of range (0 .. 10)",
    }
    unchanged = await submit(rig, view)
    assert unchanged["errors"] == {"strategy.lookback": "nothing changed: edit a value first"}
    assert rig.slack.messages == {}
    assert rig.h.service.engine.params.entry_z == 2.0
    rig.h.journal.flush()
    rows = rig.h.journal.query("select command, outcome from commands where user = 'U1'")
    assert {"command": "set (form)", "outcome": "refused"} in rows


async def test_the_edited_values_are_checked_together(rig: Rig) -> None:
    """entry_z 0.6 with exit_z 0.7 (each fine against the current settings, not together): the
    error is under both fields and the form stays open; nothing is posted or changed. Values
    that fit together (0.6 and 0.4) are each posted for confirmation."""
    view = await open_form(rig)
    answer = await submit(
        rig, view, strategy__entry_z_threshold="0.6", strategy__exit_z_threshold="0.7"
    )
    assert answer["response_action"] == "errors"
    together = (
        "together with the other values: strategy.exit_z_threshold (0.7) must be below "
        "strategy.entry_z_threshold (0.6)"
    )
    assert answer["errors"] == {
        "strategy.entry_z_threshold": together,
        "strategy.exit_z_threshold": together,
    }
    assert rig.h.service.engine.params.entry_z == 2.0 and rig.h.service.engine.params.exit_z == 0.5
    rig.h.journal.flush()
    rows = rig.h.journal.query("select command, outcome, detail from commands where user = 'U1'")
    assert [(r["command"], r["outcome"]) for r in rows] == [("set (form)", "refused")]
    assert rig.slack.messages == {}

    answer = await submit(
        rig, view, strategy__entry_z_threshold="0.6", strategy__exit_z_threshold="0.4"
    )
    assert "response_action" not in answer
    await eventually(lambda: len(rig.slack.messages) == 2)
    texts = sorted(m.blocks[0]["text"]["text"] for m in rig.slack.messages.values())
    assert "strategy.entry_z_threshold: 2 -&gt; 0.6" in texts[0]
    assert "strategy.exit_z_threshold: 0.5 -&gt; 0.4" in texts[1]


async def test_a_good_value_is_confirmed_like_trade_set(rig: Rig) -> None:
    """A valid change closes the form and posts the /trade set confirmation in the channel the
    form came from; only Confirm applies it."""
    view = await open_form(rig)
    answer = await submit(rig, view, strategy__entry_z_threshold="2.2")
    assert "response_action" not in answer
    await eventually(lambda: rig.slack.messages)
    (message,) = rig.slack.messages.values()
    assert message.channel == "C1"
    assert "strategy.entry_z_threshold: 2 -&gt; 2.2" in message.blocks[0]["text"]["text"]
    assert rig.h.service.engine.params.entry_z == 2.0
    rig.nonces[message.ts] = nonce(message)
    await rig.click(message, "confirm")
    assert rig.h.service.engine.params.entry_z == 2.2
    assert "entry_z changed 2 -> 2.2 by U1" in message.text


async def test_a_non_operator_cannot_open_the_form(rig: Rig) -> None:
    """`/trade set` from a non-operator is refused privately; no modal opens."""
    envelope = await rig.slack.send_slash_command("set", user_id="U9")
    await envelope.acked()
    await eventually(lambda: rig.slack.responses)
    assert "is not an operator" in rig.slack.responses[-1]["text"]
    assert rig.slack.calls_to("views.open") == []


async def test_home_change_settings_opens_the_form(rig: Rig) -> None:
    """Home's "Change settings…" button opens the same form with its own trigger_id; the
    changes are confirmed in slack.channel."""
    envelope = await rig.slack.send_app_home_opened("U1")
    await envelope.acked()
    await eventually(lambda: rig.slack.home_view("U1"))
    home = rig.slack.home_view("U1")
    assert home is not None
    envelope = await rig.slack.send_view_action(home, "home_set", "set", "U1")
    await envelope.acked()
    await eventually(lambda: rig.slack.opened_views)
    assert (
        inputs(rig.slack.opened_views[-1])["strategy.lookback"]["element"]["initial_value"] == "20"
    )
    origin = json.loads(rig.slack.opened_views[-1]["private_metadata"])
    assert origin == {"channel": "C1", "response_url": None}


async def test_a_confirmation_slack_will_not_post_is_withdrawn_and_explained(rig: Rig) -> None:
    """If the bot is not in the form's channel, the change is withdrawn and the user is told
    through the command's response_url, as for `/trade set`."""
    view = await open_form(rig)
    rig.slack.channels_without_bot.add("C1")
    answer = await submit(rig, view, strategy__exit_z_threshold="0.4")
    assert "response_action" not in answer
    await eventually(lambda: rig.slack.responses)
    assert "invite @tradebot to <#C1>" in rig.slack.responses[-1]["text"]
    rig.h.journal.flush()
    rows = rig.h.journal.query("select command, outcome from commands where user = 'U1'")
    assert {"command": "set", "outcome": "withdrawn"} in rows
    assert rig.h.service.engine.params.exit_z == 0.5
