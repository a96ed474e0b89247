"""The App Home tab through the REAL slack_bolt / slack_sdk clients and the loopback Slack."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.slack.home_view import MAX_POSITIONS, HomeFacts, home_view
from ops.shared.results import PositionLine
from strategy.types import TradingState
from tests.fakes.slack import view_errors
from tests.slack_rig import Rig, nonce, start_rig
from tests.support import REPO, eventually, make_harness
from tests.test_commands import open_spy_position


def text_of(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"])


def buttons(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """action_id -> button, wherever it sits in the view."""
    found = {}
    for block in view["blocks"]:
        for element in [*block.get("elements", []), block.get("accessory") or {}]:
            if element.get("type") == "button":
                found[element["action_id"]] = element
    return found


def published_for(rig: Rig, user: str, after: int) -> bool:
    """A tab was published for `user` since the `after`-th views.publish call."""
    return any(c.params["user_id"] == user for c in rig.slack.calls_to("views.publish")[after:])


async def open_home(rig: Rig, user: str = "U1") -> dict[str, Any]:
    before = len(rig.slack.calls_to("views.publish"))
    envelope = await rig.slack.send_app_home_opened(user)
    await envelope.acked()
    await eventually(lambda: published_for(rig, user, after=before))
    view = rig.slack.home_view(user)
    assert view is not None
    return view


async def press(rig: Rig, user: str, action: str, value: str) -> dict[str, Any]:
    """Press a Home button as `user`; the tab as republished for them afterwards."""
    before = len(rig.slack.calls_to("views.publish"))
    view = rig.slack.home_view(user) or {"blocks": []}
    envelope = await rig.slack.send_view_action(view, action, value, user)
    await envelope.acked()
    await eventually(lambda: published_for(rig, user, after=before))
    published = rig.slack.home_view(user)
    assert published is not None
    return published


async def test_home_is_published_on_open_with_state_money_and_positions(rig: Rig) -> None:
    """app_home_opened publishes the tab: state, equity, day P&L, positions, heartbeat, buttons."""
    qty = await open_spy_position(rig.h)
    view = await open_home(rig)
    assert view["type"] == "home" and not view_errors(view)
    text = text_of(view)
    assert "*ACTIVE*" in text and "*Equity*" in text and "*Day P&L*" in text
    assert f"`SPY` +{qty} @" in text and "*Positions (1)*" in text
    assert "no heartbeat yet" in text and "*Open incidents*\\nnone" in text
    assert {"home_pause", "home_kill", "home_set"} <= set(buttons(view))
    assert rig.surface.home.viewers == ("U1",)


async def test_the_messages_tab_publishes_nothing(rig: Rig) -> None:
    """Only the Home tab is drawn: opening the Messages tab publishes no view."""
    envelope = await rig.slack.send_app_home_opened("U1", tab="messages")
    await envelope.acked()
    await open_home(rig, "U2")
    assert rig.slack.home_view("U1") is None


async def test_pause_from_home_asks_first_and_a_non_operator_is_refused(rig: Rig) -> None:
    """Pause carries a confirm dialog and pauses for an operator; a viewer gets no buttons,
    and a forged click from them is refused, audited, and changes nothing."""
    viewer = await open_home(rig, "U9")
    assert not buttons(viewer) and "Read-only" in text_of(viewer)
    refused = await press(rig, "U9", "home_pause", "pause")
    assert "is not an operator" in text_of(refused)
    assert rig.h.service.gate.state is TradingState.ACTIVE

    view = await open_home(rig, "U1")
    dialog = buttons(view)["home_pause"]["confirm"]
    assert dialog["title"]["text"] == "Pause new entries?"
    paused = await press(rig, "U1", "home_pause", "pause")
    assert rig.h.service.gate.state is TradingState.PAUSED
    assert "Paused by U1" in text_of(paused) and "*PAUSED*" in text_of(paused)
    assert "home_resume" in buttons(paused)
    rig.h.journal.flush()
    rows = rig.h.journal.query("select user, command, outcome, surface from commands")
    assert {
        "user": "U9",
        "command": "pause",
        "outcome": "unauthorized",
        "surface": "slack-home",
    } in rows


async def test_kill_from_home_posts_the_same_confirmation_in_the_channel(rig: Rig) -> None:
    """Kill from Home posts the /trade kill confirmation in slack.channel; Confirm halts."""
    qty = await open_spy_position(rig.h)
    await open_home(rig)
    before = set(rig.slack.messages)
    view = await press(rig, "U1", "home_kill", "kill")
    (ts,) = set(rig.slack.messages) - before
    message = rig.slack.messages[ts]
    assert message.channel == "C1" and f"close SPY: +{qty} shares" in message.text
    assert "confirm or cancel it in <#C1>" in text_of(view)
    assert rig.h.service.gate.state is TradingState.ACTIVE
    rig.nonces[ts] = nonce(message)
    await rig.click(message, "confirm")
    await eventually(lambda: rig.h.service.gate.state is TradingState.HALTED)


async def test_a_kill_slack_will_not_post_is_withdrawn_and_said_on_the_tab(rig: Rig) -> None:
    """With the bot missing from slack.channel, Kill from Home leaves nothing pending and the
    tab says why."""
    await open_home(rig)
    rig.slack.channels_without_bot.add("C1")
    view = await press(rig, "U1", "home_kill", "kill")
    assert "invite @tradebot to <#C1>" in text_of(view)
    rig.h.journal.flush()
    rows = rig.h.journal.query("select command, outcome from commands where user = 'U1'")
    assert {"command": "kill", "outcome": "withdrawn"} in rows
    assert rig.h.service.gate.state is TradingState.ACTIVE


async def test_an_incident_is_acknowledged_from_home(rig: Rig) -> None:
    """Open incidents are listed with Acknowledge; pressing it records who took it."""
    rig.h.service.alert("feed-stale", "critical", "last bar is 400s old")
    view = await open_home(rig, "U2")
    assert "`feed-stale` last bar is 400s old" in text_of(view)
    assert buttons(view)["home_ack"]["value"] == "feed-stale"
    after = await press(rig, "U2", "home_ack", "feed-stale")
    assert "incident feed-stale acknowledged by U2" in text_of(after)
    await eventually(
        lambda: any(m.text == "Acknowledged by <@U2>" for m in rig.slack.messages.values())
    )


async def test_the_heartbeat_redraws_the_tabs_of_recent_viewers_only(rig: Rig) -> None:
    """Each heartbeat refreshes the board and the open tabs (with its time); the set of users
    refreshed is bounded, most recent kept."""
    rig.surface.home.max_viewers = 2
    for user in ("U1", "U2", "U3"):
        await open_home(rig, user)
    assert rig.surface.home.viewers == ("U2", "U3")
    rig.h.service.alert("drawdown", "warning", "drawdown 11%")
    await rig.surface.heartbeat()
    latest = rig.slack.calls_to("views.publish")[-2:]
    assert [c.params["user_id"] for c in latest] == ["U2", "U3"]
    view = rig.slack.home_view("U3")
    assert view is not None and "`drawdown` drawdown 11%" in text_of(view)
    assert "last heartbeat" in text_of(view) and "no heartbeat yet" not in text_of(view)
    assert any(
        m.channel == "C1" and "MeanReversionV1" in m.text for m in rig.slack.messages.values()
    )


def home_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What was logged about publishing the tab (ours, or Bolt's for a listener that raised)."""
    return [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING
        and ("views.publish" in r.getMessage() or "Home" in r.message)
    ]


async def test_a_home_slack_refuses_is_one_warning_then_quiet_until_it_works(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """With the Home tab off (Slack answers not_enabled), opening it logs one warning line (no
    traceback) and heartbeats publish nothing; once a tab is published again, they redraw."""
    rig.slack.home_tab_enabled = False
    for user in ("U1", "U2"):
        envelope = await rig.slack.send_app_home_opened(user)
        await envelope.acked()
        await eventually(lambda user=user: published_for(rig, user, after=0))
    await eventually(lambda: home_logs(caplog))
    await rig.surface.heartbeat()
    await rig.surface.heartbeat()
    refused = rig.slack.calls_to("views.publish")
    assert [c.params["user_id"] for c in refused] == ["U1", "U2"]
    (warning,) = home_logs(caplog)
    assert warning.levelno == logging.WARNING and warning.exc_info is None
    assert "not_enabled" in warning.getMessage()
    assert not [k for k in rig.h.service.open_incidents() if k.startswith("error:")]

    rig.slack.home_tab_enabled = True
    await open_home(rig, "U2")
    await rig.surface.heartbeat()
    latest = rig.slack.calls_to("views.publish")[-2:]
    assert [(c.params["user_id"], c.ok) for c in latest] == [("U1", True), ("U2", True)]


async def test_a_refused_settings_form_is_acked_and_said_privately(rig: Rig) -> None:
    """Change settings when Slack refuses the form (expired_trigger_id) and the tab too: the
    click is acked, and the person reads why in an ephemeral message in slack.channel."""
    home = await open_home(rig)
    rig.slack.fail_next("views.open", error="expired_trigger_id")
    rig.slack.fail_next("views.publish", error="invalid_blocks")
    envelope = await rig.slack.send_view_action(home, "home_set", "set", "U1")
    assert await envelope.acked() == {}
    await eventually(lambda: rig.slack.calls_to("chat.postEphemeral"))
    (told,) = rig.slack.calls_to("chat.postEphemeral")
    assert told.ok and told.params["channel"] == "C1" and told.params["user"] == "U1"
    assert "could not open the settings form (expired_trigger_id)" in told.params["text"]
    assert "Slack would not redraw your Home tab (invalid_blocks)" in told.params["text"]


async def test_a_click_whose_tab_slack_refuses_is_answered_privately(rig: Rig) -> None:
    """Pause from Home when Slack refuses to redraw the clicker's tab: it pauses, and what
    happened reaches them as an ephemeral message in slack.channel instead."""
    home = await open_home(rig)
    rig.slack.fail_next("views.publish", error="invalid_blocks")
    envelope = await rig.slack.send_view_action(home, "home_pause", "pause", "U1")
    assert await envelope.acked() == {}
    await eventually(lambda: rig.slack.calls_to("chat.postEphemeral"))
    (told,) = rig.slack.calls_to("chat.postEphemeral")
    assert "Paused by U1" in told.params["text"] and told.params["user"] == "U1"
    assert rig.h.service.gate.state is TradingState.PAUSED


async def test_someone_who_is_not_a_viewer_sees_only_a_refusal(tmp_path: Path) -> None:
    """With slack.viewers set, anyone else (not an operator) gets a one-line refusal."""
    slack, h, surface = await start_rig(tmp_path, **{"slack.viewers": ["U5"]})
    rig = Rig(slack, h, surface)
    try:
        assert "*Equity*" in text_of(await open_home(rig, "U5"))
        refused = text_of(await open_home(rig, "U9"))
        assert "is not a viewer" in refused and "Equity" not in refused
    finally:
        await surface.stop()
        await h.service.stop()
        await slack.__aexit__()


async def test_hundreds_of_positions_and_incidents_fit_block_kit(tmp_path: Path) -> None:
    """300 positions and 40 long incidents: the biggest positions, "and K more" with totals,
    and a view Slack accepts."""
    status = make_harness(tmp_path).core.queries.status()
    positions = tuple(PositionLine(f"S{i}", i + 1, 10.0, 10.0, 0.0) for i in range(300))
    incidents = {f"incident-{i}": ("warning", "x" * 5_000) for i in range(40)}
    facts = HomeFacts(operator=True, notice="n" * 5_000, last_heartbeat=0.0, now=0.0)
    view = home_view(replace(status, positions=positions), incidents, facts).to_dict()
    assert not view_errors(view)
    text = text_of(view)
    assert f"and {300 - MAX_POSITIONS} more" in text and "*Positions (300)*" in text
    assert "`S299`" in text and "`S0`" not in text  # the biggest first
    assert "gross $451,500.00" in text  # 10 x (1 + ... + 300)
    assert "and 30 more" in text


def test_the_manifest_declares_the_home_tab_and_nothing_more() -> None:
    """manifest.json: Home tab on, the app_home_opened event, Socket Mode, no extra scopes."""
    manifest = json.loads((REPO / "manifest.json").read_text())
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is False
    assert manifest["settings"]["event_subscriptions"] == {"bot_events": ["app_home_opened"]}
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["oauth_config"]["scopes"] == {"bot": ["commands", "chat:write", "files:write"]}
